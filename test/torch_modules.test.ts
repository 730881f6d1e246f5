/**
 * Modules with a torchvision counterpart load torchvision-written safetensors files (the
 * state dicts of the real modules, written by scripts/fixtures/generate_torch_fixtures.py)
 * and then compute what torchvision computed; one whole ResNet-18 training step from
 * torchvision's weights gives torch's loss, every parameter gradient, and the parameters and
 * batch-norm statistics after the SGD step, and flexconv's saved file holds what torch's
 * state_dict holds (F32 values, I64 num_batches_tracked).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadSafetensors, models, nn, ops, optim, Tensor, train } from '../lib';
import type { FeatureMaps } from '../lib/nn/pyramid';
import {
  expectMatchesFixture,
  FIXTURE_DIR,
  FixtureCase,
  FixtureTensor,
  loadFixtures,
  toTensor,
} from './torch_fixtures';

const { FeaturePyramidNetwork, LastLevelMaxPool, LastLevelP6P7 } = nn;

/** The state dict of one case of modules.safetensors (keys prefixed '<case>.'). */
function stateOf(all: Record<string, Tensor>, prefix: string): Record<string, Tensor> {
  return Object.fromEntries(
    Object.entries(all)
      .filter(([k]) => k.startsWith(`${prefix}.`))
      .map(([k, v]) => [k.slice(prefix.length + 1), v]),
  );
}

describe('torchvision modules load from torchvision-written safetensors and compute the same', () => {
  const all = loadSafetensors(path.join(FIXTURE_DIR, 'modules.safetensors')).tensors;
  const cases = new Map(loadFixtures('modules').map((c) => [c.name, c]));
  const get = (name: string): FixtureCase => cases.get(name)!;

  function pyramidCase(name: string, fpn: InstanceType<typeof FeaturePyramidNetwork>): void {
    const c = get(name);
    fpn.loadStateDict(stateOf(all, name)); // strict: every torchvision key, nothing else
    fpn.eval();
    const inputs: Record<string, Tensor> = {};
    for (const k of c.args.inNames as string[]) inputs[k] = toTensor(c.tensors[`in.${k}`]);
    const out = fpn.forward(inputs as FeatureMaps) as Record<string, Tensor>;
    expect(Object.keys(out)).toEqual(c.args.outNames);
    for (const k of c.args.outNames as string[]) expectMatchesFixture(out[k], c.tensors[`out.${k}`], `${name} ${k}`);
  }

  test('FeaturePyramidNetwork (inner_blocks.0.0.weight, layer_blocks.0.0.bias, ...)', () => {
    pyramidCase('fpn', new FeaturePyramidNetwork([4, 6, 8], 5));
  });
  test('FeaturePyramidNetwork with LastLevelMaxPool', () => {
    pyramidCase('fpn_maxpool', new FeaturePyramidNetwork([4, 6, 8], 5, { extraBlocks: new LastLevelMaxPool() }));
  });
  test('FeaturePyramidNetwork with LastLevelP6P7 from C5 and from P5 (extra_blocks.p6.weight)', () => {
    pyramidCase('fpn_p6p7', new FeaturePyramidNetwork([4, 6, 8], 5, { extraBlocks: new LastLevelP6P7(8, 5) }));
    pyramidCase('fpn_p6p7_from_p5', new FeaturePyramidNetwork([4, 6, 8], 5, { extraBlocks: new LastLevelP6P7(5, 5) }));
  });
  test('FeaturePyramidNetwork with batch norm (Conv2dNormActivation without bias, inner_blocks.0.1.running_var)', () => {
    pyramidCase('fpn_batchnorm', new FeaturePyramidNetwork([4, 6, 8], 5, { norm: 'batch' }));
  });

  test('DeformConv2d: torchvision.ops.DeformConv2d weights (weight, bias) drive the same convolution', () => {
    const c = get('deform_conv2d_module');
    const layer = new nn.DeformConv2d(4, 6, { kernelSize: 3, padding: 1, groups: 2 });
    // torchvision's layer takes the offsets as an input; ours predicts them (conv_offset).
    const { missingKeys, unexpectedKeys } = layer.loadStateDict(stateOf(all, 'deform_conv2d_module'), {
      strict: false,
    });
    expect(unexpectedKeys).toEqual([]);
    expect(missingKeys.sort()).toEqual(['conv_offset.bias', 'conv_offset.weight']);
    const out = ops.deformConv2d(toTensor(c.tensors.in0), toTensor(c.tensors.in1), layer.weight, {
      bias: layer.bias,
      padding: 1,
    });
    expectMatchesFixture(out, c.tensors.out, 'DeformConv2d');
  });

  test('BatchNorm2d (weight, bias, running statistics, I64 num_batches_tracked) in eval', () => {
    const c = get('batch_norm_module');
    const bn = new nn.BatchNorm2d(4);
    bn.loadStateDict(stateOf(all, 'batch_norm_module'));
    bn.eval();
    expectMatchesFixture(bn.forward(toTensor(c.tensors.in0)), c.tensors.out, 'BatchNorm2d');
  });
});

/** A minimal safetensors reader (independent of lib/io): name -> { dtype, shape, values }. */
function readRaw(file: string): Map<string, { dtype: string; shape: number[]; values: number[] }> {
  const bytes = fs.readFileSync(file);
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] }
  >;
  const out = new Map<string, { dtype: string; shape: number[]; values: number[] }>();
  for (const [name, e] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const body = bytes.subarray(8 + n + e.data_offsets[0], 8 + n + e.data_offsets[1]);
    const values: number[] = [];
    if (e.dtype === 'F32') for (let i = 0; i < body.length; i += 4) values.push(body.readFloatLE(i));
    else if (e.dtype === 'I64') for (let i = 0; i < body.length; i += 8) values.push(Number(body.readBigInt64LE(i)));
    else throw new Error(`unexpected dtype ${e.dtype} for ${name}`);
    out.set(name, { dtype: e.dtype, shape: e.shape, values });
  }
  return out;
}

describe('one ResNet-18 training step equals torchvision + torch.optim.SGD from the same weights', () => {
  const c = loadFixtures('resnet18_step')[0];
  const t = c.tensors;
  // The documented exception to 1e-4: with the seed's shapes (batch 4, 32x32, 7x7-s2 stem) the
  // last stage's batch norms normalise 4 values per channel (1x1 maps), which amplifies float32
  // rounding (measured: up to ~5e-4 relative in some gradients, every layer alike). Single ops
  // are held to 1e-4 in torch_ops.test.ts.
  const rtol = 1e-3;

  test('loss, every parameter gradient, the parameters and statistics after the step, and the saved file', () => {
    const net = models.resnet18({
      numClasses: c.args.numClasses,
      inChannels: 3,
      stem: c.args.stem,
      width: c.args.width,
    });
    train.loadModel(net, path.join(FIXTURE_DIR, 'resnet18_w4.safetensors'), { strict: true });
    net.train();
    const opt = new optim.SGD(net.parameters(), c.args.optimizer);
    const loss = ops.crossEntropy(net.forward(toTensor(t.input)), toTensor(t.target));
    expectMatchesFixture(loss, t.loss, 'loss', rtol);
    loss.backward();
    const named = [...net.namedParameters()];
    expect(named.length).toBe(Object.keys(t).filter((k) => k.startsWith('grad.')).length);
    for (const [name, p] of named) expectMatchesFixture(p.grad, t[`grad.${name}`], `grad ${name}`, rtol);
    opt.step();
    const after = net.stateDict();
    const expectedKeys = Object.keys(t)
      .filter((k) => k.startsWith('after.'))
      .map((k) => k.slice(6));
    expect(Object.keys(after).sort()).toEqual(expectedKeys.sort());
    for (const key of expectedKeys) expectMatchesFixture(after[key], t[`after.${key}`], `after ${key}`, rtol);

    // The other way: the file flexconv writes reads back (by an independent reader) as
    // torch's state_dict, dtypes included.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flexconv-resnet-'));
    try {
      const file = path.join(dir, 'after.safetensors');
      train.saveModel(net, file);
      const raw = readRaw(file);
      expect([...raw.keys()].sort()).toEqual(expectedKeys.sort());
      for (const key of expectedKeys) {
        const e: FixtureTensor = t[`after.${key}`];
        const entry = raw.get(key)!;
        expect({ key, dtype: entry.dtype, shape: entry.shape }).toEqual({
          key,
          dtype: key.endsWith('num_batches_tracked') ? 'I64' : 'F32',
          shape: e.shape,
        });
        expectMatchesFixture(Tensor.from(Float32Array.from(entry.values), e.shape), e, `saved ${key}`, rtol);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('deformable ResNet-18 with fresh offset predictors is torchvision ResNet-18 (zero offsets sample the grid)', () => {
  test('deform in stages 3 and 4: torch loss and gradients of every shared parameter', () => {
    const c = loadFixtures('resnet18_step')[0];
    const t = c.tensors;
    const net = models.resnet18({
      numClasses: 10,
      inChannels: 3,
      stem: 'imagenet',
      width: 4,
      conv: { kind: 'deform', stages: [3, 4] },
    });
    const { missingKeys, unexpectedKeys } = train.loadModel(net, path.join(FIXTURE_DIR, 'resnet18_w4.safetensors'), {
      strict: false,
    });
    expect(unexpectedKeys).toEqual([]);
    expect(missingKeys.length).toBeGreaterThan(0);
    expect(missingKeys.every((k) => /^layer[34]\.\d\.conv[12]\.conv_offset\.(weight|bias)$/.test(k))).toBe(true);
    net.train();
    const loss = ops.crossEntropy(net.forward(toTensor(t.input)), toTensor(t.target));
    expectMatchesFixture(loss, t.loss, 'loss', 1e-3);
    loss.backward();
    for (const [name, p] of net.namedParameters()) {
      if (name.includes('conv_offset')) continue;
      expectMatchesFixture(p.grad, t[`grad.${name}`], `grad ${name}`, 1e-3);
    }
  });
});
