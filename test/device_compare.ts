/**
 * GPU test helper: runs `fn` on CPU copies and on CUDA copies of the same inputs, back-
 * propagates the same seed gradient through both, and checks outputs and every input
 * gradient agree. Used by the GPU blocks of the spatial op tests.
 */
import { Tensor } from '../lib';
import { expectClose } from './helpers';

export function expectCudaMatchesCpu(
  fn: (...inputs: Tensor[]) => Tensor,
  inputs: Tensor[],
  differentiable: boolean[],
  tol = 1e-4,
): void {
  const run = (device: 'cpu' | 'cuda'): { out: number[]; grads: (number[] | null)[] } => {
    const xs = inputs.map((t, i) => {
      const moved = t.detach().to(device);
      return differentiable[i] ? moved.requireGrad() : moved;
    });
    const out = fn(...xs);
    const seed = Tensor.from(
      Array.from({ length: out.numel }, (_, i) => Math.sin(i + 1)),
      out.shape,
      { device },
    );
    out.backward(seed);
    return { out: out.toArray(), grads: xs.map((x, i) => (differentiable[i] && x.grad ? x.grad.toArray() : null)) };
  };
  const cpu = run('cpu');
  const gpu = run('cuda');
  expectClose(gpu.out, cpu.out, tol, tol);
  cpu.grads.forEach((g, i) => {
    if (g) expectClose(gpu.grads[i] as number[], g, tol, tol);
  });
}
