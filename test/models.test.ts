import { ArgumentError, ShapeError } from '../lib/errors';
import { DeformConv2d, ModulatedDeformConv2d } from '../lib/nn/deform';
import { DynamicConv2d } from '../lib/nn/dynamic';
import { convPerStage, OctaveConvAdapter, registerConv, resnet18, resnet34, unet } from '../lib/models';
import { Conv2d } from '../lib/nn';
import { noGrad } from '../lib/autograd';
import { Tensor } from '../lib/tensor';

describe('ResNet', () => {
  test('parameter counts equal torchvision and the usual CIFAR ResNet-18', () => {
    // torchvision.models.resnet18() / resnet34(): 11,689,512 and 21,797,672 parameters.
    expect(resnet18().numParameters()).toBe(11_689_512);
    expect(resnet34().numParameters()).toBe(21_797_672);
    // 3x3 stem without max pool and 10 classes: the widely used CIFAR ResNet-18 has 11,173,962.
    expect(resnet18({ stem: 'cifar', numClasses: 10 }).numParameters()).toBe(11_173_962);
  });

  test("state-dict keys and shapes follow torchvision's", () => {
    const sd = resnet18({ numClasses: 10 }).stateDict();
    const shapes = Object.fromEntries(Object.entries(sd).map(([k, t]) => [k, t.shape]));
    expect(shapes['conv1.weight']).toEqual([64, 3, 7, 7]);
    expect(shapes['bn1.running_mean']).toEqual([64]);
    expect(shapes['layer1.0.conv1.weight']).toEqual([64, 64, 3, 3]);
    expect(shapes['layer2.0.conv1.weight']).toEqual([128, 64, 3, 3]);
    expect(shapes['layer2.0.downsample.0.weight']).toEqual([128, 64, 1, 1]);
    expect(shapes['layer2.0.downsample.1.running_var']).toEqual([128]);
    expect(shapes['layer4.1.bn2.bias']).toEqual([512]);
    expect(shapes['fc.weight']).toEqual([10, 512]);
    expect(shapes['fc.bias']).toEqual([10]);
    expect(shapes['layer1.0.downsample.0.weight']).toBeUndefined();
    // torchvision's resnet18 has 62 parameter tensors: 20 convs + 20 BN (weight, bias) + fc (weight, bias).
    expect(resnet18().parameters().length).toBe(62);
  });

  test('forward shapes for both stems, odd input sizes and batch 1', () => {
    noGrad(() => {
      const cifar = resnet18({ numClasses: 10, stem: 'cifar', width: 4 }).eval();
      expect(cifar.forward(Tensor.randn([2, 3, 32, 32])).shape).toEqual([2, 10]);
      expect(cifar.forward(Tensor.randn([1, 3, 17, 23])).shape).toEqual([1, 10]);
      const imagenet = resnet34({ numClasses: 7, inChannels: 1, width: 4 }).eval();
      expect(imagenet.forward(Tensor.randn([2, 1, 64, 48])).shape).toEqual([2, 7]);
    });
  });

  test('registerConv adds a kind that models accept by the name it returns', () => {
    let made = 0;
    const counted = registerConv('counted-plain', (i, o, s) => {
      made++;
      return new Conv2d(i, o, { kernelSize: s.kernelSize, stride: s.stride, padding: s.padding, bias: s.bias });
    });
    const net = resnet18({ conv: { kind: counted, stages: [4] }, width: 4 });
    expect(made).toBe(4); // the two blocks of stage 4, two 3x3 convs each
    expect(net.stageConvs).toEqual(['standard', 'standard', 'standard', 'counted-plain']);
  });

  test('rejects bad options with clear messages', () => {
    expect(() => resnet18({ stem: 'tiny' as 'cifar' })).toThrow(
      /ResNet: expected stem to be one of 'imagenet', 'cifar' but received "tiny"/,
    );
    expect(() => resnet18({ numClasses: 0 })).toThrow(/expected numClasses to be a positive integer/);
    // @ts-expect-error -- a kind that is not a ConvKindName does not compile; JavaScript callers get a typed error
    expect(() => resnet18({ conv: 'fancy', width: 4 })).toThrow(
      /expected conv to be one of 'standard'.* but received "fancy"/,
    );
    expect(() => resnet18({ conv: ['standard', 'deform'], width: 4 })).toThrow(/expected conv to list 4 kinds/);
    expect(() => resnet18({ conv: { kind: 'deform', stages: [5] }, width: 4 })).toThrow(/stage numbers in 1\.\.4/);
  });

  test('per-stage conv choice', () => {
    expect(convPerStage('t', { kind: 'deform', stages: [3, 4] }, 4)).toEqual([
      'standard',
      'standard',
      'deform',
      'deform',
    ]);
    expect(convPerStage('t', 'modulated', 2)).toEqual(['modulated', 'modulated']);
    const m = resnet18({ width: 4, conv: { kind: 'standard', stages: [1] } });
    expect(m.stageConvs).toEqual(['standard', 'standard', 'standard', 'standard']);
    expect(m.layer3.get(0).conv1).toBeInstanceOf(Conv2d);
  });

  test('deformable variants: DCN-style stages, extra offset parameters, plain weights load into them', () => {
    const plain = resnet18({ numClasses: 10, stem: 'cifar', width: 8 });
    const dcn = resnet18({ numClasses: 10, stem: 'cifar', width: 8, conv: { kind: 'deform', stages: [3, 4] } });
    expect(dcn.layer2.get(0).conv1).toBeInstanceOf(Conv2d);
    expect(dcn.layer3.get(0).conv1).toBeInstanceOf(DeformConv2d);
    expect(dcn.layer4.get(1).conv2).toBeInstanceOf(DeformConv2d);
    expect(dcn.numParameters()).toBeGreaterThan(plain.numParameters());
    const result = dcn.loadStateDict(plain.stateDict(), { strict: false });
    expect(result.unexpectedKeys).toEqual([]);
    expect(result.missingKeys.length).toBeGreaterThan(0);
    expect(result.missingKeys.every((k) => /^layer[34]\./.test(k))).toBe(true);
    // Zero-initialised offsets: the deformable net starts as the plain one.
    noGrad(() => {
      plain.eval();
      dcn.eval();
      const x = Tensor.randn([2, 3, 16, 16]);
      const a = plain.forward(x).toArray();
      const b = dcn.forward(x).toArray();
      for (let i = 0; i < a.length; i++) expect(b[i]).toBeCloseTo(a[i], 4);
    });
    const mod = resnet18({ numClasses: 10, stem: 'cifar', width: 4, conv: 'modulated' });
    expect(mod.layer1.get(0).conv1).toBeInstanceOf(ModulatedDeformConv2d);
    noGrad(() => expect(mod.eval().forward(Tensor.randn([1, 3, 16, 16])).shape).toEqual([1, 10]));
  });
});

describe('other conv kinds', () => {
  test("'octave': the per-layer adapter keeps shapes and splits channels into bands", () => {
    const net = resnet18({ numClasses: 10, stem: 'cifar', width: 8, conv: { kind: 'octave', stages: [3, 4] } });
    const conv = net.layer3.get(0).conv1 as OctaveConvAdapter;
    expect(conv).toBeInstanceOf(OctaveConvAdapter);
    expect(net.layer2.get(0).conv1).toBeInstanceOf(Conv2d);
    // Octave conv 16 -> 32 channels at alpha 0.5: the four paths hold 8x16, 8x16, 8x16 and 8x16 3x3 kernels,
    // exactly the parameters of the plain conv (16 * 32 * 9).
    expect(conv.conv.numParameters()).toBe(16 * 32 * 9);
    noGrad(() => expect(net.eval().forward(Tensor.randn([2, 3, 16, 16])).shape).toEqual([2, 10]));
  });

  test("'dynamic': DynamicConv2d in the chosen stages", () => {
    const net = resnet18({ numClasses: 10, stem: 'cifar', width: 8, conv: { kind: 'dynamic', stages: [4] } });
    expect(net.layer4.get(1).conv2).toBeInstanceOf(DynamicConv2d);
    expect(net.numParameters()).toBeGreaterThan(resnet18({ numClasses: 10, stem: 'cifar', width: 8 }).numParameters());
    noGrad(() => expect(net.eval().forward(Tensor.randn([2, 3, 16, 16])).shape).toEqual([2, 10]));
  });
});

describe('U-Net', () => {
  test('output has the input size and numClasses channels', () => {
    const net = unet({ inChannels: 3, numClasses: 11, baseChannels: 4, depth: 3 }).eval();
    noGrad(() => {
      expect(net.forward(Tensor.randn([2, 3, 32, 32])).shape).toEqual([2, 11, 32, 32]);
      expect(net.forward(Tensor.randn([1, 3, 8, 24])).shape).toEqual([1, 11, 8, 24]);
    });
    expect(() => net.forward(Tensor.randn([1, 3, 12, 16]))).toThrow(ShapeError);
    expect(() => net.forward(Tensor.randn([1, 3, 12, 16]))).toThrow(
      /H and W divisible by 8 \(2\^depth\) but received \[1, 3, 12, 16\]/,
    );
  });

  test('parameter count matches the closed form', () => {
    // double conv (in -> out): 9*in*out + 9*out*out weights + 2 BN (2*out each).
    const dc = (i: number, o: number): number => 9 * i * o + 9 * o * o + 4 * o;
    const b = 4;
    const depth = 2;
    let expected = dc(3, b);
    for (let l = 1; l <= depth; l++) expected += dc(b * 2 ** (l - 1), b * 2 ** l);
    for (let l = depth; l >= 1; l--) {
      const i = b * 2 ** l;
      const o = i / 2;
      expected += 4 * i * o + o; // 2x2 transposed conv with bias
      expected += dc(2 * o, o);
    }
    expected += b * 5 + 5; // 1x1 classifier
    expect(unet({ numClasses: 5, baseChannels: b, depth }).numParameters()).toBe(expected);
    expect(() => unet({ depth: 0 })).toThrow(ArgumentError);
    expect(() => unet({ depth: 2, conv: ['standard'] })).toThrow(/expected conv to list 3 kinds/);
  });

  test('deformable U-Net levels', () => {
    const net = unet({ numClasses: 3, baseChannels: 4, depth: 2, conv: { kind: 'deform', stages: [3] } });
    expect(net.downs[1].get(0)).toBeInstanceOf(DeformConv2d);
    expect(net.inc.get(0)).toBeInstanceOf(Conv2d);
    noGrad(() => expect(net.eval().forward(Tensor.randn([1, 3, 16, 16])).shape).toEqual([1, 3, 16, 16]));
  });
});
