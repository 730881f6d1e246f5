/**
 * Matrix multiplication on the GEMM core: 2-D (M x K) @ (K x N) and batched
 * (B x M x K) @ (B x K x N), with a batch of 1 on either side broadcasting.
 */
import { record } from '../autograd';
import { checkOptionKeys, expectOptionsObject, shapeString } from '../check';
import { DeviceError, ShapeError } from '../errors';
import { native } from '../native';
import { Tensor } from '../tensor';
import type { OnnxEmitContext } from '../onnx/trace';

export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
}

function as3d(t: Tensor): Tensor {
  return t.ndim === 3 ? t : t.rawView([1, ...t.shape]);
}

/** Raw GEMM: c = alpha * op(a) @ op(b) + beta * c on 3-D tensors (no autograd). */
export function gemmInto(a: Tensor, b: Tensor, c: Tensor, transA: boolean, transB: boolean, alpha = 1, beta = 0): void {
  native().gemm(a, b, c, transA, transB, alpha, beta);
}

export function matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
  expectOptionsObject('matmul', options, '{ transA, transB }');
  checkOptionKeys('matmul', options, ['transA', 'transB']);
  const transA = options.transA ?? false;
  const transB = options.transB ?? false;
  for (const [name, t] of [
    ['a', a],
    ['b', b],
  ] as const) {
    if (!(t instanceof Tensor)) throw new ShapeError(`matmul: expected ${name} to be a Tensor`);
    if (t.ndim !== 2 && t.ndim !== 3) {
      throw new ShapeError(`matmul: expected ${name} to be 2-D or 3-D but received shape ${shapeString(t.shape)}`);
    }
  }
  if (a.device !== b.device) throw new DeviceError(`matmul: a is on ${a.device} but b is on ${b.device}`);
  const a3 = as3d(a),
    b3 = as3d(b);
  const M = transA ? a3.shape[2] : a3.shape[1];
  const K = transA ? a3.shape[1] : a3.shape[2];
  const Kb = transB ? b3.shape[2] : b3.shape[1];
  const N = transB ? b3.shape[1] : b3.shape[2];
  if (K !== Kb) {
    throw new ShapeError(
      `matmul: inner dimensions differ: a${transA ? '^T' : ''} is ${M}x${K} (shape ${shapeString(a.shape)}) but b${
        transB ? '^T' : ''
      } is ${Kb}x${N} (shape ${shapeString(b.shape)})`,
    );
  }
  const batchA = a3.shape[0],
    batchB = b3.shape[0];
  if (batchA !== batchB && batchA !== 1 && batchB !== 1) {
    throw new ShapeError(`matmul: batch sizes ${batchA} and ${batchB} differ (one of them may be 1 to broadcast)`);
  }
  const batch = Math.max(batchA, batchB);
  const out3 = Tensor.empty([batch, M, N], { device: a.device });
  gemmInto(a3, b3, out3, transA, transB);
  if (a3 !== a) a3.dispose();
  if (b3 !== b) b3.dispose();
  const out = a.ndim === 2 && b.ndim === 2 ? viewAndDrop(out3, [M, N]) : out3;
  return record(
    'matmul',
    [a, b],
    out,
    (g) => matmulBackward(g, a, b, transA, transB),
    (ctx: OnnxEmitContext) => {
      const operand = (t: Tensor, trans: boolean): string => {
        if (!trans) return ctx.name(t);
        const perm = t.ndim === 2 ? [1, 0] : [0, 2, 1];
        return ctx.node('Transpose', [ctx.name(t)], undefined, { perm })[0];
      };
      ctx.node('MatMul', [operand(a, transA), operand(b, transB)], [ctx.output]);
    },
  );
}

function viewAndDrop(t: Tensor, shape: number[]): Tensor {
  const v = t.rawView(shape);
  t.dispose();
  return v;
}

// For C = op(A) op(B): dA = dC op(B)^T (transposed back if A was), dB likewise; batch
// broadcasting sums over the broadcast batch.
function matmulBackward(g: Tensor, a: Tensor, b: Tensor, transA: boolean, transB: boolean): (Tensor | null)[] {
  const g3 = g.ndim === 3 ? g : g.rawView([1, ...g.shape]);
  const a3 = as3d(a),
    b3 = as3d(b);
  const gradA = a.requiresGrad ? gradOperand(g3, b3, a3.shape, transA, transB, 'a') : null;
  const gradB = b.requiresGrad ? gradOperand(g3, a3, b3.shape, transA, transB, 'b') : null;
  return [gradA ? gradA.rawView([...a.shape]) : null, gradB ? gradB.rawView([...b.shape]) : null];
}

function gradOperand(
  g: Tensor,
  other: Tensor,
  shape: readonly number[],
  transA: boolean,
  transB: boolean,
  which: 'a' | 'b',
): Tensor {
  const batch = g.shape[0];
  const perBatch = Tensor.empty([batch, shape[1], shape[2]], { device: g.device });
  if (which === 'a') {
    // dA (as stored): transA ? op(B) dC^T : dC op(B)^T
    if (!transA) gemmInto(g, other, perBatch, false, !transB);
    else gemmInto(other, g, perBatch, transB, true);
  } else if (!transB) {
    gemmInto(other, g, perBatch, !transA, false);
  } else {
    gemmInto(g, other, perBatch, true, transA);
  }
  if (shape[0] === batch) return perBatch;
  // Broadcast operand: sum the per-batch gradients (natively, so CUDA tensors stay on the GPU).
  const summed = Tensor.empty([1, shape[1], shape[2]], { device: g.device });
  native().sumDims(perBatch, [0], summed, 1);
  perBatch.dispose();
  return summed;
}
