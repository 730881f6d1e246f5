/**
 * The pointwise family on CUDA against the CPU kernels (same formulas, math/pointwise.h and
 * math/softmax.h). Runs only where a CUDA device is present.
 */
import { ops, Tensor, DeviceError, manualSeed } from '../lib';
import { Generator } from '../lib/random';
import { expectClose, describeCuda } from './helpers';

const gpu = describeCuda('pointwise_cuda.test');

function both(t: Tensor): [Tensor, Tensor] {
  return [t, t.to('cuda')];
}

gpu('pointwise ops on CUDA match the CPU', () => {
  beforeEach(() => manualSeed(71));

  test('broadcasting binary ops, unary ops and their gradients', () => {
    const [a, ac] = both(Tensor.randn([2, 3, 4, 5]));
    const [b, bc] = both(Tensor.rand([3, 1, 5], { low: 0.5, high: 2 }));
    for (const f of [ops.add, ops.sub, ops.mul, ops.div]) expectClose(f(ac, bc).toArray(), f(a, b).data, 1e-6, 1e-6);
    for (const f of [
      ops.relu,
      ops.sigmoid,
      ops.tanh,
      ops.silu,
      ops.exp,
      ops.neg,
      (x: Tensor) => ops.leakyRelu(x, 0.1),
    ]) {
      expectClose(f(ac).toArray(), f(a).data, 1e-6, 1e-5);
    }
    const xg = Tensor.randn([4, 6], { requiresGrad: true });
    const xgc = xg.detach().to('cuda').requireGrad();
    ops.sum(ops.mul(ops.silu(xg), Tensor.from([1, 2, 3, 4, 5, 6]))).backward();
    ops.sum(ops.mul(ops.silu(xgc), Tensor.from([1, 2, 3, 4, 5, 6]).to('cuda'))).backward();
    expectClose(xgc.grad!.toArray(), xg.grad!.data, 1e-5, 1e-5);
  });

  test('reductions, shape ops, softmax', () => {
    const [x, xc] = both(Tensor.randn([3, 4, 5, 6]));
    for (const dims of [[0], [1, 3], [0, 2, 3], undefined])
      expectClose(ops.sum(xc, dims).toArray(), ops.sum(x, dims).data, 1e-4, 1e-5);
    expectClose(ops.permute(xc, [0, 2, 3, 1]).toArray(), ops.permute(x, [0, 2, 3, 1]).data, 0, 0);
    expectClose(ops.concat([xc, xc], 1).toArray(), ops.concat([x, x], 1).data, 0, 0);
    expectClose(ops.slice(xc, 2, 1, 4).toArray(), ops.slice(x, 2, 1, 4).data, 0, 0);
    expectClose(ops.softmax(xc, 1).toArray(), ops.softmax(x, 1).data, 1e-6, 1e-5);
    expect(ops.argmax(xc, 1).toArray()).toEqual(ops.argmax(x, 1).toArray());
    expectClose(ops.logSoftmax(xc, -1).toArray(), ops.logSoftmax(x, -1).data, 1e-5, 1e-5);
  });

  test('crossEntropy (segmentation, smoothing, ignoreIndex) forward and backward', () => {
    const logits = Tensor.randn([2, 5, 3, 3], { requiresGrad: true });
    const lc = logits.detach().to('cuda').requireGrad();
    const t = Tensor.from(
      Array.from({ length: 18 }, (_, i) => (i % 4 === 3 ? -100 : i % 5)),
      [2, 3, 3],
    );
    const opts = { labelSmoothing: 0.1 };
    const l = ops.crossEntropy(logits, t, opts);
    const lcu = ops.crossEntropy(lc, t.to('cuda'), opts);
    expectClose(lcu.toArray(), l.data, 1e-5, 1e-5);
    l.backward();
    lcu.backward();
    expectClose(lc.grad!.toArray(), logits.grad!.data, 1e-6, 1e-5);
  });

  test('binaryCrossEntropyWithLogits (posWeight per class) and mseLoss, forward and backward', () => {
    const x = Tensor.randn([4, 3], { std: 3, requiresGrad: true });
    const xc = x.detach().to('cuda').requireGrad();
    const y = Tensor.rand([4, 3]);
    const pw = Tensor.from([0.5, 2, 3]);
    const l = ops.binaryCrossEntropyWithLogits(x, y, { posWeight: pw });
    const lc = ops.binaryCrossEntropyWithLogits(xc, y.to('cuda'), { posWeight: pw.to('cuda') });
    expectClose(lc.toArray(), l.data, 1e-6, 1e-5);
    l.backward();
    lc.backward();
    expectClose(xc.grad!.toArray(), x.grad!.data, 1e-6, 1e-5);
    expectClose(ops.mseLoss(xc, y.to('cuda')).toArray(), ops.mseLoss(x, y).data, 1e-6, 1e-5);
  });

  test('dropout masks are identical on both devices for the same seed', () => {
    const [x, xc] = both(Tensor.randn([1000]));
    expect(ops.dropout(xc, 0.3, true, new Generator(5)).toArray()).toEqual(
      ops.dropout(x, 0.3, true, new Generator(5)).toArray(),
    );
  });

  test('mixing devices is a DeviceError', () => {
    expect(() => ops.add(Tensor.zeros([2]), Tensor.zeros([2]).to('cuda'))).toThrow(DeviceError);
  });
});
