import { ArgumentError, manualSeed, nn, ops, ShapeError, Tensor } from '../lib';
import { gradcheck } from './gradcheck';
import {
  add,
  batchNormEval,
  convLayer,
  expectCloseR,
  fromTensor,
  maxPool,
  mulChannels,
  R,
  relu,
  resize,
  scale,
  sigmoid,
  silu,
} from './reference/compose';

const { FeaturePyramidNetwork, BiFPN, LastLevelMaxPool, LastLevelP6P7 } = nn;
type Fpn = InstanceType<typeof FeaturePyramidNetwork>;

/** A ResNet-like pyramid C2..C4 (odd sizes on purpose). */
function backboneFeatures(n = 2): Tensor[] {
  return [Tensor.randn([n, 4, 15, 13]), Tensor.randn([n, 6, 8, 7]), Tensor.randn([n, 8, 4, 4])];
}

function convNormAct(m: { conv: Parameters<typeof convLayer>[1]; bn: unknown }, x: R, act: boolean): R {
  const y = convLayer(x, m.conv);
  return act ? relu(y) : y;
}

/** Fast normalised fusion in float64 from the module's raw weights. */
function fuse(weights: Tensor, xs: R[], eps = 1e-4): R {
  const w = weights.toArray().map((v) => Math.max(v, 0));
  const total = w.reduce((a, b) => a + b, 0) + eps;
  return xs.map((x, i) => scale(x, w[i] / total)).reduce((a, b) => add(a, b));
}

function referenceFpn(fpn: Fpn, inputs: R[], mode: 'nearest' | 'bilinear' = 'nearest'): R[] {
  const last = inputs.length - 1;
  let lastInner = convNormAct(fpn.inner_blocks[last], inputs[last], false);
  const results: R[] = [];
  results[last] = convNormAct(fpn.layer_blocks[last], lastInner, false);
  for (let i = last - 1; i >= 0; i--) {
    const lateral = convNormAct(fpn.inner_blocks[i], inputs[i], false);
    const topDown = resize(lastInner, lateral.shape[2], lateral.shape[3], mode);
    lastInner = fpn.fusions.length ? fuse(fpn.fusions[i].weight, [lateral, topDown]) : add(lateral, topDown);
    results[i] = convNormAct(fpn.layer_blocks[i], lastInner, false);
  }
  return results;
}

describe('FeaturePyramidNetwork against a float64 composition', () => {
  beforeEach(() => manualSeed(21));

  test.each(['nearest', 'bilinear'] as const)('top-down path, %s upsampling to the exact lateral size', (mode) => {
    const fpn = new FeaturePyramidNetwork([4, 6, 8], 5, { upsample: mode });
    const x = backboneFeatures();
    const out = fpn.forward(x) as Tensor[];
    const ref = referenceFpn(fpn, x.map(fromTensor), mode);
    expect(out.length).toBe(3);
    out.forEach((t, i) => expectCloseR(t, ref[i]));
  });

  test('weighted (fast normalised) fusion', () => {
    const fpn = new FeaturePyramidNetwork([4, 6, 8], 5, { fusion: 'weighted' });
    fpn.fusions[0].weight.data.set([0.3, 2.0]);
    fpn.fusions[1].weight.data.set([-1.0, 0.5]); // relu'd to 0
    const x = backboneFeatures();
    const ref = referenceFpn(fpn, x.map(fromTensor));
    (fpn.forward(x) as Tensor[]).forEach((t, i) => expectCloseR(t, ref[i]));
  });

  test('PANet bottom-up augmentation', () => {
    const fpn = new FeaturePyramidNetwork([4, 6, 8], 5, { bottomUp: true });
    const x = backboneFeatures();
    const p = referenceFpn(fpn, x.map(fromTensor));
    const n = [p[0]];
    for (let i = 0; i < 2; i++) {
      const down = convNormAct(fpn.downsample[i], n[i], true);
      const resized = resize(down, p[i + 1].shape[2], p[i + 1].shape[3], 'nearest');
      n.push(convNormAct(fpn.aggregate[i], add(resized, p[i + 1]), true));
    }
    (fpn.forward(x) as Tensor[]).forEach((t, i) => expectCloseR(t, n[i]));
  });

  test('extra blocks: LastLevelMaxPool and RetinaNet P6/P7, named maps keep names', () => {
    const x = backboneFeatures();
    const named = { c2: x[0], c3: x[1], c4: x[2] };
    const pool = new FeaturePyramidNetwork([4, 6, 8], 5, { extraBlocks: new LastLevelMaxPool() });
    const outPool = pool.forward(named) as Record<string, Tensor>;
    expect(Object.keys(outPool)).toEqual(['c2', 'c3', 'c4', 'pool']);
    const ref = referenceFpn(pool, x.map(fromTensor));
    expectCloseR(outPool.pool, maxPool(ref[2], 1, 2, 0));

    const retina = new FeaturePyramidNetwork([4, 6, 8], 5, { extraBlocks: new LastLevelP6P7(8, 5) });
    const out = retina.forward(named) as Record<string, Tensor>;
    expect(Object.keys(out)).toEqual(['c2', 'c3', 'c4', 'p6', 'p7']);
    const extra = retina.extraBlocks as InstanceType<typeof LastLevelP6P7>;
    expect(extra.useP5).toBe(false);
    const p6 = convLayer(fromTensor(x[2]), extra.p6); // from C5 since channels differ
    expectCloseR(out.p6, p6);
    expectCloseR(out.p7, convLayer(relu(p6), extra.p7));
  });

  test('SE attention on every output level', () => {
    const fpn = new FeaturePyramidNetwork([4, 6, 8], 6, { attention: 'se', seReduction: 2 });
    const x = backboneFeatures();
    const ref = referenceFpn(fpn, x.map(fromTensor));
    (fpn.forward(x) as Tensor[]).forEach((t, i) => {
      const se = fpn.attention[i];
      const [n, c, h, w] = ref[i].shape;
      const pooled = new Float64Array(n * c);
      ref[i].data.forEach((v, k) => (pooled[Math.floor(k / (h * w))] += v / (h * w)));
      const s: R = { data: pooled, shape: [n, c, 1, 1] };
      const gate = sigmoid(convLayer(relu(convLayer(s, se.fc1)), se.fc2));
      expectCloseR(t, mulChannels(ref[i], gate));
    });
  });

  test('gradients through FPN (inputs and weights) match finite differences', () => {
    const fpn = new FeaturePyramidNetwork([2, 3], 2, { fusion: 'weighted', bottomUp: true });
    const x = [Tensor.randn([1, 2, 5, 5]).requireGrad(), Tensor.randn([1, 3, 3, 3]).requireGrad()];
    gradcheck(
      (a, b) => {
        const [p0, p1] = fpn.forward([a, b]) as Tensor[];
        return concatFlat(p0, p1);
      },
      [x[0], x[1], fpn.fusions[0].weight, fpn.inner_blocks[0].conv.weight],
      { atol: 3e-3 },
    );
  });

  test('errors name the level, the expected and the received shapes', () => {
    const fpn = new FeaturePyramidNetwork([4, 6, 8], 5);
    const x = backboneFeatures();
    expect(() => fpn.forward([x[0], x[1]])).toThrow(/expected 3 levels.*received 2/);
    expect(() => fpn.forward([x[0], Tensor.zeros([2, 7, 8, 7]), x[2]])).toThrow(ShapeError);
    expect(() => fpn.forward([x[0], Tensor.zeros([2, 7, 8, 7]), x[2]])).toThrow(
      /level 1 has 7 channels but inChannelsList\[1\] is 6/,
    );
    expect(() => fpn.forward({ c2: x[0], c3: Tensor.zeros([2, 6, 20, 20]), c4: x[2] })).toThrow(
      /high to low resolution.*level 1 \('c3'\) \[2, 6, 20, 20\] is larger than level 0 \('c2'\) \[2, 4, 15, 13\]/,
    );
    expect(() => new FeaturePyramidNetwork([], 5)).toThrow(ArgumentError);
    expect(() => new FeaturePyramidNetwork([4], 5, { upsample: 'cubic' as 'nearest' })).toThrow(
      /'nearest', 'bilinear'/,
    );
  });
});

function concatFlat(a: Tensor, b: Tensor): Tensor {
  return ops.concat([ops.reshape(a, [-1]), ops.reshape(b, [-1])], 0);
}

describe('BiFPN against a float64 composition', () => {
  beforeEach(() => manualSeed(8));

  function node(m: InstanceType<typeof nn.BiFPNLayer>['topDown'][number], xs: R[]): R {
    let y = silu(fuse(m.fusion.weight, xs));
    if (m.depthwise) y = convLayer(y, m.depthwise);
    return batchNormEval(convLayer(y, m.pointwise), m.bn);
  }

  test.each(['separable', 'standard'] as const)('two stacked layers with %s convs (eval mode)', (conv) => {
    const bifpn = new BiFPN([4, 6, 8], 6, { repeats: 2, conv }).eval();
    bifpn.layers[0].topDown[0].fusion.weight.data.set([0.5, 1.5]);
    bifpn.layers[1].bottomUp[0].fusion.weight.data.set([1, -1, 2]);
    const x = backboneFeatures();
    let p: R[] = x.map((t, i) => (bifpn.lateral[i] ? convLayer(fromTensor(t), bifpn.lateral[i]!) : fromTensor(t)));
    for (const layer of bifpn.layers) {
      const last = p.length - 1;
      const td: R[] = [];
      td[last] = p[last];
      for (let i = last - 1; i >= 0; i--)
        td[i] = node(layer.topDown[i], [p[i], resize(td[i + 1], p[i].shape[2], p[i].shape[3], 'nearest')]);
      const out = [td[0]];
      for (let i = 1; i <= last; i++) {
        const down = maxPool(out[i - 1], 3, 2, 1);
        const d = resize(down, p[i].shape[2], p[i].shape[3], 'nearest');
        out.push(node(layer.bottomUp[i - 1], i === last ? [p[i], d] : [p[i], td[i], d]));
      }
      p = out;
    }
    (bifpn.forward(x) as Tensor[]).forEach((t, i) => expectCloseR(t, p[i]));
  });

  test('levels already at the output width get no lateral conv', () => {
    const bifpn = new BiFPN([6, 4], 6);
    expect(bifpn.lateral[0]).toBeNull();
    expect(Object.keys(bifpn.stateDict()).some((k) => k.startsWith('lateral.1.'))).toBe(true);
    expect(Object.keys(bifpn.stateDict()).some((k) => k.startsWith('lateral.0.'))).toBe(false);
  });
});
