/**
 * Activations: relu, leakyRelu, sigmoid, tanh, silu. Native kernels and formulas shared with
 * CUDA in native/math/pointwise.h (sigmoid never evaluates exp of a large positive number).
 */
import { checkNumber } from '../check';
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
