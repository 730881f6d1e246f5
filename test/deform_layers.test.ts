/**
 * Deformable layers: a fresh layer computes a plain convolution (its offset predictor starts
 * at zero), PyTorch-ecosystem state-dict keys, shapes, gradients reaching the predictor,
 * DeformSampler warping, samplingLocations and the SVG helper.
 */
import { nn, noGrad, ops, Tensor, ArgumentError, ShapeError } from '../lib';
import {
  DeformConv2d,
  ModulatedDeformConv2d,
  DeformSampler,
  DeformableConvBlock,
  DeformableBasicBlock,
  samplingLocations,
} from '../lib/nn/deform';
import { samplingLocationsSvg } from '../lib/report/sampling_svg';
import { expectClose } from './helpers';

function convWithSameWeights(layer: DeformConv2d | ModulatedDeformConv2d): nn.Conv2d {
  const conv = new nn.Conv2d(layer.inChannels, layer.outChannels, {
    kernelSize: layer.kernelSize,
    stride: layer.stride,
    padding: layer.padding,
    dilation: layer.dilation,
    groups: layer.groups,
    bias: layer.bias !== null,
  });
  conv.weight.data.set(layer.weight.data);
  if (conv.bias && layer.bias) conv.bias.data.set(layer.bias.data);
  return conv;
}

describe('DeformConv2d', () => {
  test('a fresh layer equals Conv2d with the same weights (zero offsets)', () => {
    const layer = new DeformConv2d(6, 4, {
      kernelSize: [3, 2],
      stride: [2, 1],
      padding: [1, 1],
      dilation: [1, 2],
      groups: 2,
      offsetGroups: 3,
    });
    const x = Tensor.randn([2, 6, 9, 8]);
    const y = layer.forward(x);
    const expected = convWithSameWeights(layer).forward(x);
    expect(y.shape).toEqual(expected.shape);
    expectClose(y.data, expected.data, 1e-5, 1e-5);
  });

  test('state-dict keys and shapes follow torchvision / mmcv', () => {
    const layer = new DeformConv2d(4, 8, { kernelSize: 3, padding: 1, offsetGroups: 2 });
    const sd = layer.stateDict();
    expect(Object.keys(sd)).toEqual(['weight', 'bias', 'conv_offset.weight', 'conv_offset.bias']);
    expect(sd.weight.shape).toEqual([8, 4, 3, 3]);
    expect(sd['conv_offset.weight'].shape).toEqual([2 * 2 * 9, 4, 3, 3]);
    expect(Array.from(sd['conv_offset.weight'].data).every((v) => v === 0)).toBe(true);
    expect(Object.keys(new DeformConv2d(4, 8, { bias: false }).stateDict())).toEqual([
      'weight',
      'conv_offset.weight',
      'conv_offset.bias',
    ]);
  });

  test('gradients reach the weights and the offset predictor; non-zero offsets change the output', () => {
    const layer = new DeformConv2d(3, 2, { kernelSize: 3, padding: 1 });
    const x = Tensor.randn([1, 3, 6, 6]);
    const y = layer.forward(x);
    ops.sum(ops.mul(y, y)).backward();
    expect(layer.weight.grad).not.toBeNull();
    expect(layer.conv_offset.weight.grad!.data.some((v) => v !== 0)).toBe(true);
    ops.fill_(layer.conv_offset.bias!, 0.5);
    const moved = layer.forward(x);
    expect(Array.from(moved.data).some((v, i) => Math.abs(v - y.data[i]) > 1e-4)).toBe(true);
  });

  test('bad options and input', () => {
    expect(() => new DeformConv2d(5, 4, { groups: 2 })).toThrow(ArgumentError);
    expect(() => new DeformConv2d(4, 4, { offsetGroups: 3 })).toThrow(/offsetGroups/);
    expect(() => new DeformConv2d(4, 4, { kernelSize: 0 })).toThrow(/kernelSize/);
    expect(() => new DeformConv2d(4, 4).forward(Tensor.zeros([1, 3, 5, 5]))).toThrow(ShapeError);
  });
});

describe('ModulatedDeformConv2d', () => {
  test("'2sigmoid' starts as the plain conv; 'sigmoid' starts at half of it (plus bias)", () => {
    const x = Tensor.randn([2, 4, 7, 5]);
    const two = new ModulatedDeformConv2d(4, 3, {
      kernelSize: 3,
      padding: 1,
      maskActivation: '2sigmoid',
      offsetGroups: 2,
    });
    expectClose(two.forward(x).data, convWithSameWeights(two).forward(x).data, 1e-5, 1e-5);
    const half = new ModulatedDeformConv2d(4, 3, { kernelSize: 3, padding: 1, bias: false });
    expect(half.maskActivation).toBe('sigmoid');
    const plain = convWithSameWeights(half).forward(x);
    expectClose(
      half.forward(x).data,
      Float32Array.from(plain.data, (v) => 0.5 * v),
      1e-5,
      1e-5,
    );
  });

  test('predictor layout [offsets | mask] and keys; gradients reach it', () => {
    const layer = new ModulatedDeformConv2d(2, 2, { kernelSize: [1, 3], padding: [0, 1], offsetGroups: 2 });
    expect(Object.keys(layer.stateDict())).toEqual(['weight', 'bias', 'conv_offset.weight', 'conv_offset.bias']);
    expect(layer.conv_offset.weight.shape).toEqual([3 * 2 * 3, 2, 1, 3]);
    const x = Tensor.randn([1, 2, 4, 4]);
    ops.sum(layer.forward(x)).backward();
    expect(layer.conv_offset.weight.grad!.data.some((v) => v !== 0)).toBe(true);
    expect(() => new ModulatedDeformConv2d(2, 2, { maskActivation: 'relu' as 'sigmoid' })).toThrow(/maskActivation/);
  });
});

describe('DeformSampler', () => {
  test('starts as the identity and warps by whole pixels exactly', () => {
    const sampler = new DeformSampler(3);
    expect(Object.keys(sampler.stateDict())).toEqual(['conv_offset.weight', 'conv_offset.bias']);
    const x = Tensor.randn([2, 3, 5, 6]);
    expectClose(sampler.forward(x).data, x.data, 1e-5, 1e-5);
    // dx = +1 everywhere: each pixel takes its right neighbour, the last column reads 0.
    const offset = Tensor.zeros([2, 2, 5, 6]);
    offset.data.fill(1, 2 * 5 * 6 * 0 + 30, 60);
    offset.data.fill(1, 90, 120);
    const y = DeformSampler.warp(x, offset);
    for (let n = 0; n < 2; n++)
      for (let c = 0; c < 3; c++)
        for (let i = 0; i < 5; i++)
          for (let j = 0; j < 6; j++) {
            const got = y.data[((n * 3 + c) * 5 + i) * 6 + j];
            const want = j < 5 ? x.data[((n * 3 + c) * 5 + i) * 6 + j + 1] : 0;
            expect(Math.abs(got - want)).toBeLessThan(1e-5);
          }
    expect(() => DeformSampler.warp(x, Tensor.zeros([2, 2, 5, 5]))).toThrow(/offset of shape \[2, 2, 5, 6\]/);
  });

  test.each(['zeros', 'border', 'reflection'] as const)(
    "paddingMode '%s': whole-pixel shifts past the edge read 0, the edge, or the mirror",
    (mode) => {
      const sampler = new DeformSampler(1, { paddingMode: mode });
      expect(sampler.paddingMode).toBe(mode);
      noGrad(() => sampler.conv_offset.bias!.data.set([0, 2])); // dy = 0, dx = +2 everywhere
      const [H, W] = [3, 5];
      const x = Tensor.randn([1, 1, H, W]);
      const y = sampler.forward(x);
      for (let i = 0; i < H; i++) {
        for (let j = 0; j < W; j++) {
          const s = j + 2; // alignCorners: pixel centres, the mirror line is the last centre
          const col = s < W ? s : mode === 'border' ? W - 1 : mode === 'reflection' ? 2 * (W - 1) - s : -1;
          const want = col < 0 ? 0 : x.data[i * W + col];
          expect(Math.abs(y.data[i * W + j] - want)).toBeLessThan(1e-5);
        }
      }
    },
  );

  test('gradients reach the offset predictor', () => {
    const sampler = new DeformSampler(2);
    const x = Tensor.randn([1, 2, 6, 6]);
    ops.sum(ops.mul(sampler.forward(x), x)).backward();
    expect(sampler.conv_offset.weight.grad).not.toBeNull();
  });
});

describe('samplingLocations and the SVG helper', () => {
  test('a fresh layer samples the regular grid; the SVG draws every tap of the chosen pixels', () => {
    const layer = new ModulatedDeformConv2d(1, 1, { kernelSize: 3, stride: 2, padding: 1, dilation: 2 });
    const x = Tensor.randn([1, 1, 9, 9]);
    const loc = samplingLocations(layer, x);
    expect(loc.shape).toEqual([1, 1, 9, 4, 4]);
    // output (1, 2), tap (2, 0): y = 1*2 - 1 + 2*2 = 5, x = 2*2 - 1 + 0 = 3
    const at = (2 * 3 + 0) * 16 + 1 * 4 + 2;
    expect(loc.y[at]).toBe(5);
    expect(loc.x[at]).toBe(3);
    expect(loc.mask!.every((m) => Math.abs(m - 0.5) < 1e-6)).toBe(true);
    const svg = samplingLocationsSvg(x, loc, {
      pixels: [
        [1, 2],
        [3, 3],
      ],
      imageFormat: 'rects',
    });
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.match(/<circle/g)!.length).toBe(18);
    expect(svg.match(/<rect/g)!.length).toBe(81);
    // The default embeds the picture as one PNG instead of a rectangle per pixel.
    const png = samplingLocationsSvg(x, loc, {
      pixels: [
        [1, 2],
        [3, 3],
      ],
    });
    expect(png.match(/<rect/g)).toBeNull();
    expect(png.match(/<image [^>]*href="data:image\/png;base64,/g)!.length).toBe(1);
    expect(png.match(/<circle/g)!.length).toBe(18);
    expect(() => samplingLocationsSvg(x, loc, { imageFormat: 'jpeg' as 'png' })).toThrow(/imageFormat/);
    expect(() => samplingLocationsSvg(x, loc, { pixels: [[4, 0]] })).toThrow(ArgumentError);
    expect(() => samplingLocations(new nn.Conv2d(1, 1, 3) as unknown as DeformConv2d, x)).toThrow(
      /DeformConv2d or ModulatedDeformConv2d/,
    );
  });
});

describe('DeformableConvBlock and DeformableBasicBlock', () => {
  test('block = relu(bn(deform conv)); same-size padding by default; torchvision-style keys', () => {
    const block = new DeformableConvBlock(3, 4, { modulated: true, maskActivation: '2sigmoid', dilation: 2 });
    expect(Object.keys(block.stateDict())).toEqual([
      'conv.weight',
      'conv.conv_offset.weight',
      'conv.conv_offset.bias',
      'bn.weight',
      'bn.bias',
      'bn.running_mean',
      'bn.running_var',
      'bn.num_batches_tracked',
    ]);
    const x = Tensor.randn([2, 3, 7, 6]);
    const y = block.forward(x);
    expect(y.shape).toEqual([2, 4, 7, 6]);
    // At init the deform conv is the plain conv: compare with conv -> batch norm -> relu.
    const conv = convWithSameWeights(block.conv);
    const expected = ops.relu(
      ops.batchNorm2d(conv.forward(x), null, null, null, null, { training: true, momentum: 0.1, eps: 1e-5 }),
    );
    expectClose(y.data, expected.data, 1e-4, 1e-4);
  });

  test('basic block: identity shortcut, projection when channels or stride change, keys, gradients', () => {
    const same = new DeformableBasicBlock(4, 4);
    expect(same.downsample).toBeNull();
    const x = Tensor.randn([2, 4, 8, 8]);
    expect(same.forward(x).shape).toEqual([2, 4, 8, 8]);
    const down = new DeformableBasicBlock(4, 6, { stride: 2, modulated: true });
    const keys = Object.keys(down.stateDict());
    for (const k of [
      'conv1.weight',
      'bn1.running_var',
      'conv2.weight',
      'conv2.conv_offset.weight',
      'bn2.weight',
      'downsample.0.weight',
      'downsample.1.running_mean',
    ]) {
      expect(keys).toContain(k);
    }
    const y = down.forward(x);
    expect(y.shape).toEqual([2, 6, 4, 4]);
    expect(y.data.every((v) => v >= 0)).toBe(true);
    ops.sum(y).backward();
    expect(down.conv2.conv_offset.weight.grad).not.toBeNull();
    expect(down.downsample!.get(0).parameters()[0].grad).not.toBeNull();
    expect(() => new DeformableBasicBlock(4, 4, { stride: 0 })).toThrow(ArgumentError);
  });
});
