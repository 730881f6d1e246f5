import { ArgumentError, manualSeed, models, nn, noGrad, ops, optim, profile, ShapeError, Tensor } from '../lib';
import { gradcheck } from './gradcheck';
import {
  add,
  avgPool,
  batchNormEval,
  concatChannels,
  convLayer,
  expectCloseR,
  fromTensor,
  R,
  relu,
  resize,
} from './reference/compose';

const { OctaveConv2d, OctaveConvBlock, splitBands, mergeBands, lowChannels } = nn;
const { OctNet } = models;

/** The four paths of an octave conv composed from float64 references. */
function referenceOctave(layer: InstanceType<typeof OctaveConv2d>, high: R, low: R | null): [R, R | null] {
  if (layer.stride === 2 && layer.downsampleMode === 'pool') {
    high = avgPool(high, 2, 2);
    low = low && avgPool(low, 2, 2);
  }
  // In 'stride' mode the convs themselves stride (their own stride, read by convLayer).
  const h2h = layer.h2h ? convLayer(high, layer.h2h) : null;
  const [oh, ow] = h2h ? [h2h.shape[2], h2h.shape[3]] : [high.shape[2], high.shape[3]];
  const paths: Record<string, R | null> = {
    h2h,
    h2l: layer.h2l ? convLayer(avgPool(high, 2, 2), layer.h2l) : null,
    l2l: layer.l2l && low ? convLayer(low, layer.l2l) : null,
    l2h: layer.l2h && low ? resize(convLayer(low, layer.l2h), oh, ow, 'nearest') : null,
  };
  const sum = (a: R | null, b: R | null): R | null => (a && b ? add(a, b) : (a ?? b));
  return [sum(paths.h2h, paths.l2h)!, sum(paths.l2l, paths.h2l)];
}

function randomBands(n: number, ch: number, cl: number, h: number, w: number): [Tensor, Tensor | null] {
  return [Tensor.randn([n, ch, h, w]), cl > 0 ? Tensor.randn([n, cl, Math.floor(h / 2), Math.floor(w / 2)]) : null];
}

/** Running statistics and affine parameters far from the identity, so that folding shows. */
function randomizeBatchNorm(bn: InstanceType<typeof nn.BatchNorm2d> | null): void {
  if (!bn) return;
  const c = bn.numFeatures;
  noGrad(() =>
    bn.loadStateDict({
      weight: Tensor.from(
        Array.from({ length: c }, (_, i) => 0.5 + (i % 5) * 0.3),
        [c],
      ),
      bias: Tensor.from(
        Array.from({ length: c }, (_, i) => ((i % 3) - 1) * 0.4),
        [c],
      ),
      running_mean: Tensor.from(
        Array.from({ length: c }, (_, i) => ((i % 4) - 1.5) * 0.2),
        [c],
      ),
      running_var: Tensor.from(
        Array.from({ length: c }, (_, i) => 0.5 + (i % 7) * 0.25),
        [c],
      ),
      num_batches_tracked: Tensor.from([10], [1]),
    }),
  );
}

describe('OctaveConv2d against four plain convolutions with pooling and upsampling (float64)', () => {
  beforeEach(() => manualSeed(3));

  test.each([
    // [in, out, alphaIn, alphaOut, stride, H, W, kernel, padding]
    [8, 8, 0.5, 0.5, 1, 8, 8, 3, 1],
    [8, 6, 0.5, 0.5, 1, 7, 9, 3, 1], // odd sizes: 7 -> 3 -> upsampled to exactly 7
    [6, 10, 0.25, 0.75, 2, 11, 10, 3, 1],
    [4, 8, 0, 0.5, 1, 6, 6, 3, 1], // first layer: no low input
    [8, 4, 0.5, 0, 1, 9, 9, 1, 0], // last layer: no low output
    [5, 5, 0, 0, 1, 5, 5, 3, 1], // a plain conv
  ])('in %i out %i alphaIn %f alphaOut %f stride %i size %ix%i k%i', (cin, cout, ai, ao, stride, h, w, k, p) => {
    const layer = new OctaveConv2d(cin, cout, {
      kernelSize: k,
      padding: p,
      alphaIn: ai,
      alphaOut: ao,
      stride: stride as 1 | 2,
      bias: true,
    });
    expect(layer.inLow).toBe(lowChannels(cin, ai));
    const [high, low] = randomBands(2, layer.inHigh, layer.inLow, h, w);
    const [outHigh, outLow] = layer.forward([high, low]);
    const [refHigh, refLow] = referenceOctave(layer, fromTensor(high), low && fromTensor(low));
    expectCloseR(outHigh, refHigh);
    if (refLow) expectCloseR(outLow!, refLow);
    else expect(outLow).toBeNull();
  });

  test("channel split rounds like the reference implementations (Python's round: halves to even)", () => {
    const layer = new OctaveConv2d(10, 6, { kernelSize: 3, alphaIn: 0.25, alphaOut: 0.5 });
    // round(2.5) = 2 and round(3.0) = 3 in Python.
    expect([layer.inHigh, layer.inLow, layer.outHigh, layer.outLow]).toEqual([8, 2, 3, 3]);
    // round(2.5)=2, round(3.5)=4, round(4.5)=4, round(1.5)=2
    expect([5, 7, 9, 3, 6].map((c) => lowChannels(c, 0.5))).toEqual([2, 4, 4, 2, 3]);
    expect(lowChannels(10, 0.125)).toBe(1); // round(1.25)
    expect(Object.keys(layer.stateDict()).sort()).toEqual(['h2h.weight', 'h2l.weight', 'l2h.weight', 'l2l.weight']);
  });

  test('gradients through every path match finite differences', () => {
    const layer = new OctaveConv2d(4, 4, { kernelSize: 3, padding: 1, alphaIn: 0.5, alphaOut: 0.5 });
    const [high, low] = randomBands(1, 2, 2, 5, 5);
    high.requireGrad();
    low!.requireGrad();
    gradcheck(
      (h, l) => {
        const [oh, ol] = layer.forward([h, l]);
        return nn.mergeBands([oh, ol]);
      },
      [high, low!, layer.l2h!.weight, layer.h2l!.weight],
    );
  });

  test('gradients of every weight and bias (fused low-band conv) match finite differences', () => {
    const layer = new OctaveConv2d(6, 4, { kernelSize: 3, padding: 1, alphaIn: 0.5, alphaOut: 0.5, bias: true });
    const [high, low] = randomBands(2, 3, 3, 5, 4);
    high.requireGrad();
    low!.requireGrad();
    const params = [layer.h2h!, layer.h2l!, layer.l2h!, layer.l2l!].flatMap((c) => [c.weight, c.bias!]);
    gradcheck((h, l) => nn.mergeBands(layer.forward([h, l])), [high, low!, ...params]);
  });

  test('grouped layers (no fused low-band conv) and stride 2 still match the composition', () => {
    for (const [groups, stride] of [
      [2, 1],
      [1, 2],
    ] as const) {
      const layer = new OctaveConv2d(8, 8, { kernelSize: 3, padding: 1, groups, stride, bias: true });
      const [high, low] = randomBands(2, 4, 4, 9, 8);
      const [outHigh, outLow] = layer.forward([high, low]);
      const [refHigh, refLow] = referenceOctave(layer, fromTensor(high), fromTensor(low!));
      expectCloseR(outHigh, refHigh);
      expectCloseR(outLow!, refLow!);
      // Inference frees the intermediates as it goes: same values, inputs untouched.
      const [infHigh, infLow] = noGrad(() => layer.forward([high, low]));
      expect(Array.from(infHigh.data)).toEqual(Array.from(outHigh.data));
      expect(Array.from(infLow!.data)).toEqual(Array.from(outLow!.data));
      expect(high.shape).toEqual([2, 4, 9, 8]);
      expect(Array.from(low!.data).every(Number.isFinite)).toBe(true);
    }
  });

  test("downsample 'stride' strides every path's conv instead of pooling first", () => {
    for (const [cin, cout, h, w] of [
      [8, 8, 9, 8],
      [6, 4, 12, 10],
    ] as const) {
      const layer = new OctaveConv2d(cin, cout, {
        kernelSize: 3,
        padding: 1,
        stride: 2,
        downsample: 'stride',
        bias: true,
      });
      expect(layer.h2h!.stride).toEqual([2, 2]);
      const [high, low] = randomBands(2, layer.inHigh, layer.inLow, h, w);
      const [outHigh, outLow] = layer.forward([high, low]);
      const [refHigh, refLow] = referenceOctave(layer, fromTensor(high), fromTensor(low!));
      expectCloseR(outHigh, refHigh);
      expectCloseR(outLow!, refLow!);
    }
    expect(() => new OctaveConv2d(8, 8, { kernelSize: 3, downsample: 'max' as 'pool' })).toThrow(/downsample/);
  });

  test('alphaOut = 1: an empty (zero-channel) high band and the low band of the composition', () => {
    const layer = new OctaveConv2d(8, 6, { kernelSize: 3, padding: 1, alphaIn: 0.5, alphaOut: 1 });
    expect([layer.outHigh, layer.outLow]).toEqual([0, 6]);
    const [high, low] = randomBands(2, 4, 4, 8, 6);
    const [outHigh, outLow] = layer.forward([high, low]);
    expect(outHigh.shape).toEqual([2, 0, 8, 6]);
    expectCloseR(outLow!, referenceOctave(layer, fromTensor(high), fromTensor(low!))[1]!);
    const block = new OctaveConvBlock(8, 6, { kernelSize: 3, padding: 1, alphaOut: 1 });
    expect(block.forward([high, low])[0].shape).toEqual([2, 0, 8, 6]);
  });

  test('bad bands name the expected shape', () => {
    const layer = new OctaveConv2d(8, 8, { kernelSize: 3, padding: 1 });
    expect(() => layer.forward([Tensor.zeros([1, 3, 8, 8]), Tensor.zeros([1, 4, 4, 4])])).toThrow(ShapeError);
    expect(() => layer.forward([Tensor.zeros([1, 4, 8, 8]), Tensor.zeros([1, 4, 8, 8])])).toThrow(
      /low band of shape \[1, 4, 4, 4\]/,
    );
    expect(() => layer.forward([Tensor.zeros([1, 4, 8, 8]), null])).toThrow(/low band/);
    expect(() => new OctaveConv2d(8, 8, { kernelSize: 3, alphaIn: 1.5 })).toThrow(ArgumentError);
    expect(() => new OctaveConv2d(8, 8, { kernelSize: 3, stride: 3 as 2 })).toThrow(/stride to be 1 or 2/);
    expect(() => new OctaveConv2d(9, 8, { kernelSize: 3, groups: 2 })).toThrow(/groups \(2\) must divide/);
  });
});

describe('band helpers, block and OctNet', () => {
  beforeEach(() => manualSeed(5));

  test('splitBands / mergeBands against the float64 composition', () => {
    const x = Tensor.randn([2, 6, 7, 6]);
    const [high, low] = splitBands(x, 0.5);
    expect(high.shape).toEqual([2, 3, 7, 6]);
    expect(low!.shape).toEqual([2, 3, 3, 3]);
    const merged = mergeBands([high, low]);
    const refLow = resize(fromTensor(low!), 7, 6, 'nearest');
    expectCloseR(merged, concatChannels(fromTensor(high), refLow));
  });

  test('OctaveConvBlock keeps a BatchNorm per band', () => {
    const block = new OctaveConvBlock(8, 8, { kernelSize: 3, padding: 1 });
    const keys = Object.keys(block.stateDict());
    expect(keys).toContain('bnHigh.running_mean');
    expect(keys).toContain('bnLow.running_var');
    const [h, l] = block.forward(randomBands(2, 4, 4, 6, 6));
    expect(h.shape).toEqual([2, 4, 6, 6]);
    expect(l!.shape).toEqual([2, 4, 3, 3]);
    expect(Math.min(...h.toArray())).toBeGreaterThanOrEqual(0);
  });

  test('OctNet runs at batch 1 and traces every band shape', () => {
    const lines: string[] = [];
    const net = new OctNet({ widths: [8, 16], blocksPerStage: 1, numClasses: 5, trace: (l) => lines.push(l) });
    const out = net.forward(Tensor.randn([1, 3, 15, 15]));
    expect(out.shape).toEqual([1, 5]);
    expect(lines).toContain('blocks.0 in low none');
    expect(lines).toContain('blocks.0 out low [1, 4, 7, 7]');
    expect(lines).toContain('blocks.1 in high [1, 4, 15, 15]');
    expect(lines).toContain('blocks.1 out high [1, 16, 7, 7]');
    expect(lines).toContain('blocks.1 out low none');
    expect(lines[lines.length - 1]).toBe('head logits [1, 5]');
    expect(net.numParameters()).toBeGreaterThan(0);
  });
});

describe('OctaveConvBlock in eval mode: BatchNorms folded into the convs, ReLU in their epilogue', () => {
  beforeEach(() => manualSeed(7));

  function randomizeBatchNorms(block: InstanceType<typeof OctaveConvBlock>): void {
    randomizeBatchNorm(block.bnHigh);
    randomizeBatchNorm(block.bnLow);
  }

  /** relu(bn(band)) of the float64 composition, per band. */
  function referenceBlock(
    block: InstanceType<typeof OctaveConvBlock>,
    high: Tensor,
    low: Tensor | null,
  ): [R, R | null] {
    const [h, l] = referenceOctave(block.conv, fromTensor(high), low && fromTensor(low));
    return [relu(batchNormEval(h, block.bnHigh!)), l && relu(batchNormEval(l, block.bnLow!))];
  }

  test.each([
    // [in, out, alphaIn, alphaOut, stride, downsample, H, W]
    [8, 8, 0.5, 0.5, 1, 'pool', 8, 8],
    [8, 6, 0.5, 0.5, 1, 'pool', 7, 9], // odd sizes: the upsampled low-to-high path lines up
    [4, 8, 0, 0.5, 1, 'pool', 6, 6], // first layer: h2l alone feeds the low band
    [8, 4, 0.5, 0, 1, 'pool', 9, 9], // last layer: no low output
    [6, 10, 0.25, 0.75, 2, 'pool', 11, 10],
    [8, 8, 0.5, 0.5, 2, 'stride', 12, 12],
    [64, 64, 0.5, 0.5, 1, 'pool', 16, 16], // 32-channel bands: packed Winograd weights
  ] as const)(
    'in %i out %i alphaIn %f alphaOut %f stride %i (%s) %ix%i',
    async (cin, cout, ai, ao, stride, mode, h, w) => {
      const block = new OctaveConvBlock(cin, cout, {
        kernelSize: 3,
        padding: 1,
        alphaIn: ai,
        alphaOut: ao,
        stride,
        downsample: mode,
      });
      randomizeBatchNorms(block);
      block.eval();
      const [high, low] = randomBands(2, block.conv.inHigh, block.conv.inLow, h, w);
      const { result, report } = await profile(() => noGrad(() => block.forward([high, low])));
      // The folded path ran: no batch-norm or activation kernel of its own.
      const kernels = report.kernels.map((k) => k.kernel);
      expect(kernels).not.toContain('batchNorm2dForward');
      expect(kernels).not.toContain('unary');
      const [outHigh, outLow] = result;
      const [refHigh, refLow] = referenceBlock(block, high, low);
      expectCloseR(outHigh, refHigh);
      if (refLow) expectCloseR(outLow!, refLow);
      else expect(outLow).toBeNull();
    },
  );

  test('follows the weights and statistics after a training step (the folded weights are rebuilt)', () => {
    const block = new OctaveConvBlock(8, 8, { kernelSize: 3, padding: 1 });
    randomizeBatchNorms(block);
    const bands = randomBands(2, 4, 4, 8, 8);
    const evaluate = (): Tensor => {
      block.eval();
      const [high, low] = noGrad(() => block.forward(bands));
      const [refHigh, refLow] = referenceBlock(block, bands[0], bands[1]);
      expectCloseR(high, refHigh);
      expectCloseR(low!, refLow!);
      return high;
    };
    const before = evaluate().toArray();
    // One training step moves every weight and the running statistics; the cached folded
    // weights (and the stacked low-band weight) must not outlive them.
    block.train();
    const opt = new optim.SGD(block.parameters(), { lr: 0.1 });
    const [h, l] = block.forward(bands);
    ops.sum(nn.mergeBands([h, l])).backward();
    opt.step();
    const after = evaluate().toArray();
    expect(after.some((v, i) => Math.abs(v - before[i]) > 1e-3)).toBe(true);
  });

  test("OctNet in eval inference (stem and every block folded) gives the layers' values", async () => {
    const net = new OctNet({ widths: [8, 16], blocksPerStage: 2, numClasses: 5 });
    for (const bn of [net.stemBn, ...net.blocks.flatMap((b) => [b.bnHigh, b.bnLow])]) randomizeBatchNorm(bn);
    net.eval();
    const x = Tensor.randn([2, 3, 16, 16]);
    const { result: folded, report } = await profile(() => noGrad(() => net.forward(x)));
    expect(report.kernels.map((k) => k.kernel)).not.toContain('batchNorm2dForward');
    // With gradients wanted nothing folds: conv, batch norm and ReLU run as separate layers.
    const layered = net.forward(x);
    expectCloseR(folded, fromTensor(layered));
  });
});

describe('OctaveConv2d on feature maps too small for its pooling', () => {
  test('a band that would pool to nothing is a ShapeError naming octave convolution, not a pooling error', () => {
    const conv = new nn.OctaveConv2d(8, 8, { kernelSize: 3, padding: 1, stride: 2, alphaIn: 0.5, alphaOut: 0.5 });
    expect(() => conv.forward([Tensor.randn([1, 4, 2, 2]), Tensor.randn([1, 4, 1, 1])])).toThrow(
      /OctaveConv2d: expected the low band to be at least 2x2 for its 2x2 average pooling but received 1x1 \(high band 2x2\)/,
    );
    const first = new nn.OctaveConv2d(8, 8, { kernelSize: 3, padding: 1, alphaIn: 0, alphaOut: 0.5 });
    expect(() => first.forward(Tensor.randn([1, 8, 1, 1]))).toThrow(
      /the high band feeding the low band to be at least 2x2/,
    );
    expect(conv.forward([Tensor.randn([1, 4, 4, 4]), Tensor.randn([1, 4, 2, 2])])[1]!.shape).toEqual([1, 4, 1, 1]);
  });
});
