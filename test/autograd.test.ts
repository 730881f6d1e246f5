/** The autograd engine itself: accumulation, aliasing of pass-through gradients, graph reuse. */
import { AutogradError, noGrad, ops, Tensor, tidy } from '../lib';

describe('autograd engine', () => {
  test('a gradient passed through to several leaves is not shared between them', () => {
    const a = Tensor.from([1, 2]).requireGrad();
    const b = Tensor.from([3, 4]).requireGrad();
    const y = ops.add(a, b); // backward returns the incoming gradient for both
    y.backward(Tensor.from([1, 1]));
    a.grad!.data[0] = 100; // writing one leaf's gradient must not change the other's
    expect(b.grad!.toArray()).toEqual([1, 1]);
    // A second backward accumulates into each separately.
    const z = ops.add(a, b);
    z.backward(Tensor.from([2, 2]));
    expect(a.grad!.toArray()).toEqual([102, 3]);
    expect(b.grad!.toArray()).toEqual([3, 3]);
  });

  test('the same leaf used twice accumulates both contributions (closed form)', () => {
    const x = Tensor.from([1, -2, 3]).requireGrad();
    const y = ops.sum(ops.mul(ops.add(x, x), x)); // 2 x^2 -> dy/dx = 4x
    y.backward();
    expect(x.grad!.toArray()).toEqual([4, -8, 12]);
  });

  test('intermediate gradients: summed in place only where no other node shares them (closed forms)', () => {
    const x = Tensor.from([1, -2, 3]).requireGrad();
    // n = b + p hands one tensor to both b and p (processed in the order n, m, b, p); m = p * b then
    // adds a second gradient to p's. Were it added into that shared tensor, b's would change too.
    const b = ops.mul(x, Tensor.from([2, 2, 2]));
    const p = ops.mul(x, Tensor.from([3, 3, 3]));
    const m = ops.mul(p, b);
    const n = ops.add(b, p);
    ops.sum(ops.add(m, n)).backward(); // 6 x^2 + 5 x
    expect(x.grad!.toArray()).toEqual([17, -19, 41]);
    // h feeds three consumers, each handing back a gradient of its own: h's sum is built in
    // place (its first gradient is h's alone). total = h^2 + 3 h + h * h = 2 h^2 + 3 h, h = 2 x.
    const x2 = Tensor.from([1, -2, 3]).requireGrad();
    const h = ops.mul(x2, Tensor.from([2, 2, 2]));
    ops.sum(ops.add(ops.add(ops.mul(h, h), ops.mul(h, Tensor.from([3, 3, 3]))), ops.mul(h, h))).backward();
    // d/dx (8 x^2 + 6 x) = 16 x + 6
    expect(x2.grad!.toArray()).toEqual([22, -26, 54]);
  });

  test('the user-provided gradOutput is never adopted as a leaf gradient', () => {
    const x = Tensor.from([1, 2]).requireGrad();
    const gy = Tensor.from([5, 6]);
    ops.reshape(x, [2, 1]).backward(gy.view([2, 1]));
    x.grad!.data[0] = 0;
    expect(gy.toArray()).toEqual([5, 6]);
    expect(x.grad!.shape).toEqual([2]);
  });

  test('leaf gradients keep the leaf shape and survive tidy', () => {
    const w = Tensor.randn([3, 4]).requireGrad();
    tidy(() => {
      ops.sum(ops.matmul(Tensor.ones([2, 3]), w)).backward();
    });
    expect(w.grad!.shape).toEqual([3, 4]);
    expect(w.grad!.toArray()).toEqual(new Array(12).fill(2));
  });

  test('backward twice through a freed graph is an AutogradError, retainGraph allows it', () => {
    const x = Tensor.from([1, 2]).requireGrad();
    const y = ops.sum(ops.mul(x, x));
    y.backward(undefined, { retainGraph: true });
    y.backward();
    expect(x.grad!.toArray()).toEqual([4, 8]);
    expect(() => y.backward()).toThrow(AutogradError);
    expect(() => ops.sum(x).backward(Tensor.ones([2]))).toThrow(/shape/);
    expect(() => Tensor.zeros([2]).backward()).toThrow(/does not require gradients/);
  });
});

describe('Tensor methods that return tensors keep the autograd graph (as in PyTorch)', () => {
  // Each method in a chain ending in sum(method(r) * w): r.grad must be w (reshaped), the
  // finite-difference-free closed form of d/dr sum(r * w).
  const r0 = [1, -2, 3, 0.5, 4, -1];
  const w0 = [0.5, 1.5, -2, 3, 1, 2];
  const cases: [string, (r: Tensor) => Tensor][] = [
    ['reshape', (r) => r.reshape([6])],
    ['reshape with -1', (r) => r.reshape([-1])],
    ['view', (r) => r.view([6])],
    ['view of a view', (r) => r.view([3, 2]).view([6])],
    ['clone', (r) => r.clone().view([6])],
    ['to (same device)', (r) => r.to('cpu').reshape([6])],
  ];
  test.each(cases)('%s passes the gradient back to its source', (_name, method) => {
    const r = Tensor.from(r0, [2, 3]).requireGrad();
    const w = Tensor.from(w0, [6]).requireGrad();
    ops.sum(ops.mul(method(r), w)).backward();
    expect(r.grad).not.toBeNull();
    expect(r.grad!.shape).toEqual([2, 3]);
    expect(r.grad!.toArray()).toEqual(w0);
    expect(w.grad!.toArray()).toEqual(r0);
  });

  test('detach is the one method that cuts the graph, and views share storage', () => {
    const r = Tensor.from(r0, [2, 3]).requireGrad();
    const w = Tensor.from(w0, [6]).requireGrad();
    ops.sum(ops.mul(r.detach().view([6]), w)).backward();
    expect(r.grad).toBeNull();
    expect(w.grad!.toArray()).toEqual(r0);
    const v = r.view([6]);
    expect(v.sharesStorageWith(r)).toBe(true);
    expect(v.requiresGrad).toBe(true);
    expect(r.clone().sharesStorageWith(r)).toBe(false);
  });

  test('under noGrad, view and clone record nothing', () => {
    const r = Tensor.from(r0, [2, 3]).requireGrad();
    noGrad(() => {
      expect(r.view([6]).requiresGrad).toBe(false);
      expect(r.clone().requiresGrad).toBe(false);
    });
  });
});
