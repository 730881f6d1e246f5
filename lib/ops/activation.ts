/**
 * Activations: relu, leakyRelu, sigmoid, tanh, silu, softplus. Native kernels and formulas
 * shared with CUDA in native/math/pointwise.h (sigmoid never evaluates exp of a large positive
 * number).
 */
import { checkNumber, checkOptionKeys, expectOptionsObject } from '../check';
import { ArgumentError } from '../errors';
import { Tensor } from '../tensor';
import { UnaryCode, unaryOp } from './elementwise';

export function relu(x: Tensor): Tensor {
  return unaryOp('relu', x, UnaryCode.relu, 'x');
}

/** x for x > 0, slope * x otherwise (PyTorch's default slope 0.01). */
export function leakyRelu(x: Tensor, slope = 0.01): Tensor {
  checkNumber('leakyRelu', 'slope', slope);
  return unaryOp('leakyRelu', x, UnaryCode.leakyRelu, 'x', slope);
}

export function sigmoid(x: Tensor): Tensor {
  return unaryOp('sigmoid', x, UnaryCode.sigmoid, 'y');
}

export function tanh(x: Tensor): Tensor {
  return unaryOp('tanh', x, UnaryCode.tanh, 'y');
}

/** x * sigmoid(x) (a.k.a. swish). */
export function silu(x: Tensor): Tensor {
  return unaryOp('silu', x, UnaryCode.silu, 'x');
}

export interface SoftplusOptions {
  /** Sharpness (default 1). */
  beta?: number;
  /** Above beta * x > threshold the result is x itself (default 20), as in PyTorch. */
  threshold?: number;
}

/** log(1 + exp(beta * x)) / beta, and x where beta * x > threshold: PyTorch's F.softplus. */
export function softplus(x: Tensor, options: SoftplusOptions = {}): Tensor {
  expectOptionsObject('softplus', options);
  checkOptionKeys('softplus', options, ['beta', 'threshold']);
  const beta = checkNumber('softplus', 'beta', options.beta ?? 1);
  const threshold = checkNumber('softplus', 'threshold', options.threshold ?? 20);
  if (beta === 0) throw new ArgumentError('softplus: expected beta to be non-zero but received 0');
  return unaryOp('softplus', x, UnaryCode.softplus, 'x', beta, threshold, (ctx) => {
    // ONNX's Softplus has neither beta nor threshold: Where(beta x > threshold, x, Softplus(beta x) / beta).
    const xn = ctx.name(x);
    const bx = beta === 1 ? xn : ctx.node('Mul', [xn, ctx.constant([beta], [])])[0];
    const [soft] = ctx.node('Softplus', [bx]);
    const scaled = beta === 1 ? soft : ctx.node('Div', [soft, ctx.constant([beta], [])])[0];
    const [above] = ctx.node('Greater', [bx, ctx.constant([threshold], [])]);
    ctx.node('Where', [above, xn, scaled], [ctx.output]);
  });
}
