/**
 * softmax and logSoftmax along one dimension. The kernels subtract the maximum before exp,
 * so large logits are safe; backward reuses the saved output only.
 */
import { record } from '../autograd';
import { native } from '../native';
import { Tensor } from '../tensor';
import { checkTensor, normalizeDim } from './validate';

function softmaxOp(name: string, x: Tensor, dim: number, log: boolean): Tensor {
  checkTensor(name, 'x', x);
  const d = normalizeDim(name, 'dim', dim, x.ndim);
  const y = Tensor.empty(x.shape, { device: x.device });
  native().softmax(x, d, y, log);
  return record(
    name,
    [x],
    y,
    (g) => {
      const gx = Tensor.empty(x.shape, { device: x.device });
      native().softmaxBackward(y, g, d, gx, log);
      return [gx];
    },
    (ctx) => {
      if (ctx.opset < 13 && d !== x.ndim - 1) {
        ctx.fail(
          `softmax over dimension ${d} of a ${x.ndim}-D tensor needs opset 13 or later (older opsets flatten the trailing dimensions)`,
        );
      }
      ctx.node(log ? 'LogSoftmax' : 'Softmax', [ctx.name(x)], [ctx.output], { axis: d });
    },
  );
}

/** exp(x) / sum(exp(x)) along `dim`. */
export function softmax(x: Tensor, dim: number): Tensor {
  return softmaxOp('softmax', x, dim, false);
}

/** x - logsumexp(x) along `dim`. */
export function logSoftmax(x: Tensor, dim: number): Tensor {
  return softmaxOp('logSoftmax', x, dim, true);
}
