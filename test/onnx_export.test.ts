/**
 * exportOnnx parity: each exported model, run by ONNX Runtime, matches flexconv's eval-mode
 * forward (ORT is the independent implementation), plus structural checks of the written
 * protobuf and the export errors.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { exportOnnx, manualSeed, models, noGrad, nn, OnnxError, OnnxModel, ops, Tensor } from '../lib';
import { Module } from '../lib/nn/module';
import { ProtoWriter } from '../lib/onnx/protobuf';
import { checkOnnxModel, readOnnxModel } from '../lib/onnx/reader';
import { maxAbsDiff } from './helpers';

/** Max abs difference allowed between flexconv and ONNX Runtime (float32, different summation orders). */
const TOL = 2e-4;

/** Random BN statistics/affine and non-zero offset predictors, so the parity checks are not trivial. */
function randomizeState(model: Module): Module {
  noGrad(() => {
    for (const [key, t] of model.namedBuffers()) {
      if (key.endsWith('running_mean')) t.data.set(Tensor.randn(t.shape, { std: 0.2 }).data);
      if (key.endsWith('running_var')) t.data.set(Tensor.rand(t.shape, { low: 0.5, high: 1.5 }).data);
    }
    for (const [key, p] of model.namedParameters()) {
      // Batch-norm affine parameters (1-D) and offset/mask predictors only: conv weights keep their init scale.
      if ((p.ndim === 1 && /(bn|norm)[^.]*\.(weight|bias)$/i.test(key)) || key.includes('conv_offset')) {
        p.data.set(
          Tensor.randn(p.shape, {
            std: key.includes('conv_offset') ? 0.1 : 0.3,
            mean: key.endsWith('weight') && !key.includes('conv_offset') ? 1 : 0,
          }).data,
        );
      }
    }
  });
  return model;
}

function flat(result: unknown): Tensor[] {
  if (result instanceof Tensor) return [result];
  if (Array.isArray(result)) return result.flatMap(flat);
  return Object.values(result as Record<string, Tensor>).flatMap(flat);
}

/** Exports, checks the file's structure, runs ORT and compares with flexconv's eval forward. Returns the max diff. */
async function parity(
  model: Module,
  args: (Tensor | Tensor[] | Record<string, Tensor>)[],
  options: Parameters<typeof exportOnnx>[2] = {},
  runArgs?: (Tensor | Tensor[] | Record<string, Tensor>)[],
): Promise<number> {
  model.eval();
  const sample = args.length === 1 && !Array.isArray(args[0]) ? args[0] : args;
  const bytes = exportOnnx(model, sample as Tensor, options);
  expect(checkOnnxModel(bytes)).toEqual([]);
  const feedArgs = runArgs ?? args;
  const expected = flat(noGrad(() => model.forward(...feedArgs)));
  const onnx = await OnnxModel.load(bytes);
  try {
    const feeds = feedArgs.flatMap((a) => (a instanceof Tensor ? [a] : Array.isArray(a) ? a : Object.values(a)));
    const actual = flat(await onnx.run(feeds.length === 1 ? feeds[0] : feeds));
    expect(actual.length).toBe(expected.length);
    let worst = 0;
    actual.forEach((a, i) => {
      expect(a.shape).toEqual(expected[i].shape);
      worst = Math.max(worst, maxAbsDiff(a.data, expected[i].data));
    });
    expect(worst).toBeLessThan(TOL);
    return worst;
  } finally {
    await onnx.release();
  }
}

class Fn extends Module {
  constructor(
    private readonly fn: (...xs: Tensor[]) => Tensor | Tensor[],
    readonly inner: Module | null = null,
  ) {
    super();
  }
  forward(...xs: Tensor[]): Tensor | Tensor[] {
    return this.fn(...xs);
  }
}

beforeEach(() => manualSeed(1234));

describe('exportOnnx: standard layers vs ONNX Runtime', () => {
  const x = () => Tensor.randn([2, 4, 9, 11]);

  test('conv2d (stride 2 on odd input, dilation, groups, no bias) and convTranspose2d', async () => {
    await parity(
      new nn.Sequential(
        new nn.Conv2d(4, 6, 3, { stride: 2, padding: 1 }),
        new nn.Conv2d(6, 6, 3, { dilation: 2, groups: 3, bias: false, padding: 2 }),
      ),
      [x()],
    );
    await parity(new nn.ConvTranspose2d(4, 6, 3, { stride: 2, padding: 1, outputPadding: 1, groups: 2 }), [x()]);
  });

  test('batch norm (eval, random statistics) and activations', async () => {
    const m = randomizeState(
      new nn.Sequential(
        new nn.BatchNorm2d(4),
        new nn.LeakyReLU(0.2),
        new nn.SiLU(),
        new nn.Tanh(),
        new nn.Sigmoid(),
        new nn.ReLU(),
      ),
    );
    await parity(m, [x()]);
  });

  test('pooling: max (ceil mode, padding, dilation), average (ceil mode, countIncludePad false), adaptive', async () => {
    await parity(new nn.MaxPool2d({ kernelSize: 3, stride: 2, padding: 1, ceilMode: true }), [x()]);
    await parity(new nn.MaxPool2d({ kernelSize: 2, stride: 1, dilation: 2 }), [x()]);
    await parity(new nn.AvgPool2d({ kernelSize: 3, stride: 2, padding: 1, countIncludePad: false }), [x()]);
    await parity(new nn.AvgPool2d({ kernelSize: 2, stride: 2, padding: 1, ceilMode: true }), [x()]);
    await parity(new nn.AdaptiveAvgPool2d(1), [x()]);
    await parity(new nn.AdaptiveAvgPool2d([3, 1]), [Tensor.randn([2, 4, 9, 11])]);
  });

  test('interpolate: nearest and bilinear (alignCorners both ways), by size and by scale factor', async () => {
    for (const o of [
      { scaleFactor: 2, mode: 'nearest' as const },
      { size: [13, 7] as [number, number], mode: 'nearest' as const },
      { size: [17, 20] as [number, number], mode: 'bilinear' as const, alignCorners: false },
      { scaleFactor: 2, mode: 'bilinear' as const, alignCorners: true },
      { size: [5, 6] as [number, number], mode: 'bilinear' as const },
    ]) {
      await parity(new Fn((t) => ops.interpolate(t, o)), [x()]);
    }
  });

  test('shape ops, arithmetic with scalars and tensors, reductions, softmax, linear, matmul', async () => {
    const lin = new nn.Linear(11, 5);
    const m = new Fn((t) => {
      const [a, b] = ops.split(t, [1, 3], 1);
      const c = ops.concat([ops.mul(b, 2), ops.add(a, 0.5), ops.div(ops.sub(b, a), 3)], 1);
      const p = ops.permute(c, [0, 2, 3, 1]);
      const y = lin.forward(ops.permute(p, [0, 3, 1, 2]));
      const s = ops.softmax(y, 1);
      const l = ops.logSoftmax(ops.flatten(y), 1);
      const r = ops.add(ops.mean(s, [2, 3], true), ops.sum(c, [1], true));
      const mm = ops.matmul(ops.reshape(ops.slice(t, 2, 0, 4), [2, 16, 11]), ops.reshape(lin.weight, [1, 5, 11]), {
        transB: true,
      });
      return [s, l, r, mm, ops.clamp(ops.exp(ops.neg(ops.abs(y))), 0.1, 0.9)];
    }, lin);
    await parity(m, [x()]);
    const head = new nn.Sequential<nn.Module>(new nn.Flatten(), new nn.Linear(4 * 9 * 11, 7));
    await parity(head, [x()]);
  });
});

function smallCnn(): Module {
  return randomizeState(
    new nn.Sequential(
      new nn.Conv2d(3, 8, 3, { padding: 1, bias: false }),
      new nn.BatchNorm2d(8),
      new nn.ReLU(),
      new nn.MaxPool2d(2),
      new nn.Conv2d(8, 16, 3, { stride: 2, padding: 1 }),
      new nn.BatchNorm2d(16),
      new nn.ReLU(),
      new nn.Dropout(0.5),
      new nn.AdaptiveAvgPool2d(1),
      new nn.Flatten(),
      new nn.Linear(16, 10),
    ),
  );
}

describe('exportOnnx: tensors from outside ops', () => {
  test('an untraced Tensor.view of a traced tensor becomes a Reshape; a tensor made in forward a constant', async () => {
    const lin = new nn.Linear(4 * 5 * 6, 3);
    const offset = Tensor.randn([1, 4, 1, 1]);
    const model = new Fn((t) => {
      const shifted = ops.add(ops.relu(t), offset); // offset: a constant initializer
      return lin.forward(shifted.view([t.shape[0], -1])); // a plain view, not ops.reshape
    }, lin);
    await parity(model, [Tensor.randn([2, 4, 5, 6])], { dynamicBatch: true }, [Tensor.randn([3, 4, 5, 6])]);
    const info = readOnnxModel(exportOnnx(model, [2, 4, 5, 6]));
    expect(info.nodes.map((n) => n.opType)).toEqual(['Relu', 'Add', 'Reshape', 'Gemm', 'Identity']);
    expect(info.initializers.some((t) => t.name.startsWith('const') && t.dims.join() === '1,4,1,1')).toBe(true);
  });
});

describe('exportOnnx: older opsets', () => {
  test.each([11, 13, 17, 18])(
    'opset %i: Resize by size and scale, ReduceMean/ReduceSum axes, softmax, pooling, BN, linear',
    async (opset) => {
      const body = randomizeState(
        new nn.Sequential(
          new nn.Conv2d(3, 6, 3, { padding: 1 }),
          new nn.BatchNorm2d(6),
          new nn.ReLU(),
          new nn.MaxPool2d(2),
        ),
      );
      const head = new nn.Linear(6, 4);
      const model = new Fn(
        (t) => {
          const f = body.forward(t);
          const up = ops.interpolate(ops.interpolate(f, { size: [11, 13], mode: 'bilinear' }), {
            scaleFactor: 2,
            mode: 'nearest',
          });
          const pooled = ops.mean(up, [2, 3]);
          return [ops.softmax(head.forward(pooled), 1), ops.sum(up, [1], true)];
        },
        new nn.Sequential(body, head),
      );
      await parity(model, [Tensor.randn([2, 3, 10, 12])], { opset, dynamicBatch: true }, [
        Tensor.randn([3, 3, 10, 12]),
      ]);
    },
  );
});

describe('exportOnnx: whole models', () => {
  test('small CNN with BN, pooling, dropout, linear; dynamic batch runs other batch sizes; training mode restored', async () => {
    const model = smallCnn();
    model.train();
    const diff = await parity(model, [Tensor.randn([2, 3, 16, 16])], { dynamicBatch: true }, [
      Tensor.randn([5, 3, 16, 16]),
    ]);
    expect(diff).toBeLessThan(TOL);
    await parity(model, [Tensor.randn([2, 3, 16, 16])], { dynamicBatch: true }, [Tensor.randn([1, 3, 16, 16])]);
    model.train();
    exportOnnx(model, [1, 3, 16, 16]);
    expect(model.training).toBe(true);
    for (const m of model.modules()) expect(m.training).toBe(true);
  });

  test('the file: initializers named by state-dict keys, opset import, structure; written atomically', () => {
    const model = smallCnn();
    const file = path.join(os.tmpdir(), `flexconv-onnx-${process.pid}.onnx`);
    const bytes = exportOnnx(model, [1, 3, 16, 16], {
      opset: 19,
      file,
      names: { inputs: ['image'], outputs: ['logits'] },
    });
    expect(Buffer.compare(fs.readFileSync(file), Buffer.from(bytes))).toBe(0);
    fs.unlinkSync(file);
    expect(() => exportOnnx(model, [1, 3, 16, 16], { file: path.join(os.tmpdir(), 'no-such-dir', 'm.onnx') })).toThrow(
      /exportOnnx: cannot write/,
    );
    const info = readOnnxModel(bytes);
    expect(info.opsetImports).toContainEqual({ domain: '', version: 19 });
    expect(info.inputs).toEqual(['image']);
    expect(info.outputs).toEqual(['logits']);
    const names = info.initializers.map((t) => t.name);
    for (const key of Object.keys(model.stateDict())) {
      if (key.endsWith('num_batches_tracked')) continue;
      expect(names).toContain(key);
    }
    const conv = info.initializers.find((t) => t.name === '0.weight')!;
    expect(conv.dims).toEqual([8, 3, 3, 3]);
    expect(Array.from(conv.float!)).toEqual(Array.from((model.stateDict()['0.weight'] as Tensor).data));
    expect(info.nodes.map((n) => n.opType)).toEqual(
      expect.arrayContaining(['Conv', 'BatchNormalization', 'Relu', 'MaxPool', 'GlobalAveragePool', 'Reshape', 'Gemm']),
    );
  });

  test('foldBatchNorm: no BatchNormalization after a conv, same outputs, new weights named after conv and BN', async () => {
    const model = randomizeState(models.resnet18({ stem: 'cifar', width: 8, numClasses: 10 }));
    const x = Tensor.randn([2, 3, 16, 16]);
    await parity(model, [x], { foldBatchNorm: true });
    const info = readOnnxModel(exportOnnx(model, x, { foldBatchNorm: true }));
    expect(info.nodes.filter((n) => n.opType === 'BatchNormalization')).toEqual([]);
    expect(info.initializers.map((t) => t.name)).toContain('conv1.weight+bn1');
    expect(info.initializers.map((t) => t.name)).not.toContain('bn1.running_mean');
  });

  test('OnnxModel: loads from a path; CUDA provider unavailable is a clear OnnxError', async () => {
    const model = smallCnn();
    const file = path.join(os.tmpdir(), `flexconv-onnx-load-${process.pid}.onnx`);
    exportOnnx(model, [1, 3, 16, 16], { file });
    const onnx = await OnnxModel.load(file, { threads: 2 });
    const x = Tensor.randn([1, 3, 16, 16]);
    model.eval();
    const want = noGrad(() => model.forward(x)) as Tensor;
    expect(maxAbsDiff(((await onnx.run(x)) as Tensor).data, want.data)).toBeLessThan(TOL);
    await onnx.release();
    const ortBin = path.join(path.dirname(require.resolve('onnxruntime-node/package.json')), 'bin');
    const cudaInstalled = fs.readdirSync(ortBin, { recursive: true }).some((f) => String(f).includes('providers_cuda'));
    if (!cudaInstalled)
      await expect(OnnxModel.load(file, { executionProvider: 'cuda' })).rejects.toThrow(
        /CUDA execution provider is not available/,
      );
    await expect(OnnxModel.load(file, { executionProvider: 'tpu' as 'cpu' })).rejects.toThrow(/executionProvider/);
    fs.unlinkSync(file);
    await expect(OnnxModel.load('/nonexistent/model.onnx')).rejects.toThrow(OnnxError);
  });

  test('the structural checker catches what it checks', () => {
    // A hand-written model: a node reading an undefined name, an initializer with wrong dims,
    // a custom domain without an import, and no default-domain opset import.
    const tensor = new ProtoWriter().packedInts(1, [2, 2]).int(2, 1).string(8, 'w').bytes(9, new Uint8Array(12));
    const node = new ProtoWriter()
      .string(1, 'x')
      .string(1, 'missing')
      .string(2, 'y')
      .string(4, 'Add')
      .string(7, 'custom');
    const input = new ProtoWriter().string(1, 'x');
    const graph = new ProtoWriter()
      .message(1, node)
      .message(5, tensor)
      .message(11, input)
      .message(12, new ProtoWriter().string(1, 'z'));
    const bytes = new ProtoWriter().int(1, 9).message(7, graph).finish();
    const problems = checkOnnxModel(bytes).join('\n');
    expect(problems).toMatch(/no opset import for the default domain/);
    expect(problems).toMatch(/reads 'missing' before it is defined/);
    expect(problems).toMatch(/initializer 'w' has dims \[2, 2\] but 3 values/);
    expect(problems).toMatch(/domain 'custom' without an opset import/);
    expect(problems).toMatch(/graph output 'z' is never produced/);
  });
});

describe('exportOnnx: adaptive layers', () => {
  test('DeformConv2d, ModulatedDeformConv2d (offset groups, stride) and a deformable basic block as DeformConv', async () => {
    const x = Tensor.randn([2, 4, 9, 10]);
    await parity(randomizeState(new nn.DeformConv2d(4, 6, { kernelSize: 3, padding: 1, stride: 2 })), [x]);
    await parity(
      randomizeState(new nn.ModulatedDeformConv2d(4, 6, { kernelSize: 3, padding: 2, dilation: 2, offsetGroups: 2 })),
      [x],
    );
    const block = randomizeState(new nn.DeformableBasicBlock(4, 8, { stride: 2, modulated: true }));
    const bytes = exportOnnx(block, x);
    expect(readOnnxModel(bytes).nodes.filter((n) => n.opType === 'DeformConv').length).toBeGreaterThan(0);
    await parity(block, [x], { dynamicBatch: true }, [Tensor.randn([3, 4, 9, 10])]);
  });

  test('DeformSampler (GridSample) at opset 19 and 20', async () => {
    const m = randomizeState(new nn.DeformSampler(3));
    await parity(m, [Tensor.randn([2, 3, 7, 8])]);
    await parity(m, [Tensor.randn([2, 3, 7, 8])], { opset: 20 });
  });

  test('deformable ResNet-18 (CIFAR stem, narrow) with dynamic batch', async () => {
    const model = randomizeState(models.resnet18({ stem: 'cifar', width: 8, numClasses: 10, conv: 'deform' }));
    await parity(model, [Tensor.randn([2, 3, 16, 16])], { dynamicBatch: true }, [Tensor.randn([3, 3, 16, 16])]);
  });

  test('U-Net with modulated deformable convs', async () => {
    const model = randomizeState(
      models.unet({ inChannels: 3, numClasses: 3, baseChannels: 4, depth: 2, conv: 'modulated' }),
    );
    await parity(model, [Tensor.randn([1, 3, 16, 16])]);
  });

  test('DynamicNet (stacked-expert Conv, batch-independent) with dynamic batch, and a grouped DynamicConv2d', async () => {
    const model = randomizeState(new models.DynamicNet({ widths: [4, 8, 8, 16], experts: 3, numClasses: 5 }));
    await parity(model, [Tensor.randn([2, 3, 16, 16])], { dynamicBatch: true }, [Tensor.randn([4, 3, 16, 16])]);
    const grouped = randomizeState(
      new nn.DynamicConv2d(4, 6, { kernelSize: 3, padding: 1, stride: 2, groups: 2, experts: 2 }),
    );
    await parity(grouped, [Tensor.randn([3, 4, 9, 9])]);
  });

  test.each([11, 17, 19])('addInterpolated (nearest, odd sizes; bilinear) as Resize + Add, opset %i', async (opset) => {
    class UpAdd extends Module {
      forward(big: Tensor, small: Tensor): Tensor {
        const near = ops.addInterpolated(big, small);
        return ops.addInterpolated(near, small, { mode: 'bilinear', alignCorners: opset === 17 });
      }
    }
    await parity(new UpAdd(), [Tensor.randn([2, 3, 7, 9]), Tensor.randn([2, 3, 3, 4])], { opset, dynamicBatch: true }, [
      Tensor.randn([1, 3, 7, 9]),
      Tensor.randn([1, 3, 3, 4]),
    ]);
  });

  test('OctNet and an octave ResNet stage', async () => {
    await parity(
      randomizeState(new nn.OctNet({ widths: [8, 16], numClasses: 4 })),
      [Tensor.randn([2, 3, 32, 32])],
      { dynamicBatch: true },
      [Tensor.randn([1, 3, 32, 32])],
    );
    await parity(randomizeState(models.resnet18({ stem: 'cifar', width: 8, numClasses: 10, conv: 'octave' })), [
      Tensor.randn([1, 3, 16, 16]),
    ]);
  });

  test('FPN with named map inputs and outputs (weighted fusion, bottom-up, SE, P6/P7) and BiFPN', async () => {
    const feats = () => ({
      c3: Tensor.randn([2, 4, 16, 16]),
      c4: Tensor.randn([2, 8, 8, 8]),
      c5: Tensor.randn([2, 16, 4, 4]),
    });
    const fpn = randomizeState(
      new nn.FeaturePyramidNetwork([4, 8, 16], 8, {
        norm: 'batch',
        activation: 'relu',
        fusion: 'weighted',
        bottomUp: true,
        attention: 'se',
        extraBlocks: new nn.LastLevelP6P7(8, 8),
      }),
    );
    const sample = feats();
    fpn.eval();
    const bytes = exportOnnx(fpn, sample, { dynamicBatch: true });
    const info = readOnnxModel(bytes);
    expect(info.inputs).toEqual(['c3', 'c4', 'c5']);
    const expected = noGrad(() => fpn.forward(sample)) as Record<string, Tensor>;
    const outName = (k: string): string => (k in sample ? `${k}_out` : k);
    expect(info.outputs).toEqual(Object.keys(expected).map(outName));
    const onnx = await OnnxModel.load(bytes);
    const got = (await onnx.run(sample)) as Record<string, Tensor>;
    for (const k of Object.keys(expected)) expect(maxAbsDiff(got[outName(k)].data, expected[k].data)).toBeLessThan(TOL);
    await onnx.release();
    await parity(fpn, [feats()], { dynamicBatch: true }, [
      { c3: Tensor.randn([1, 4, 16, 16]), c4: Tensor.randn([1, 8, 8, 8]), c5: Tensor.randn([1, 16, 4, 4]) },
    ]);
    await parity(randomizeState(new nn.BiFPN([4, 8, 16], 8)), [
      [Tensor.randn([1, 4, 16, 16]), Tensor.randn([1, 8, 8, 8]), Tensor.randn([1, 16, 4, 4])],
    ]);
  });
});

describe('exportOnnx: errors', () => {
  test('DeformConv at opset 18 names the layer and the minimum opset 19', () => {
    const model = new nn.Sequential<nn.Module>(new nn.Conv2d(3, 4, 3), new nn.DeformConv2d(4, 4, { kernelSize: 3 }));
    expect(() => exportOnnx(model, [1, 3, 9, 9], { opset: 18 })).toThrow(OnnxError);
    expect(() => exportOnnx(model, [1, 3, 9, 9], { opset: 18 })).toThrow(
      /'deformConv2d' in layer '1' \(DeformConv2d\).*minimum opset is 19/,
    );
  });

  test('an op with no ONNX form names the op and the layer', () => {
    class Loss extends Module {
      forward(x: Tensor): Tensor {
        return ops.crossEntropy(ops.flatten(x), Tensor.zeros([x.shape[0]]));
      }
    }
    const model = new nn.Sequential(new nn.Conv2d(3, 4, 3), new Loss());
    expect(() => exportOnnx(model, [1, 3, 8, 8])).toThrow(OnnxError);
    expect(() => exportOnnx(model, [1, 3, 8, 8])).toThrow(/op 'crossEntropy' in layer '1' \(Loss\).*no ONNX form/);
  });

  test('adaptive pooling with an output size that does not divide the input is refused with the op name', () => {
    expect(() => exportOnnx(new nn.AdaptiveAvgPool2d(3), [1, 2, 8, 8])).toThrow(/adaptiveAvgPool2d.*from 8x8 to 3x3/);
  });

  test('bad arguments', () => {
    expect(() => exportOnnx(smallCnn(), [1, 3, 16, 16], { opset: 7 })).toThrow(/opset/);
    expect(() => exportOnnx(smallCnn(), 'x' as unknown as Tensor)).toThrow(/sampleInput/);
    expect(() => exportOnnx(smallCnn(), [1, 3, 16, 16], { names: { inputs: ['a', 'b'] } })).toThrow(/names.inputs/);
  });
});
