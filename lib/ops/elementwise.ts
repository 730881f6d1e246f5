/**
 * Elementwise arithmetic with NumPy broadcasting, and the small in-place helpers other code
 * needs (fill_, copy_, addInPlace). Kernels: native/cpu/elementwise.cc (CPU, threaded above
 * a size threshold) and native/cuda/elementwise.cu; formulas: native/math/pointwise.h.
 *
 * Gradients of broadcast operands are summed back to each operand's shape (sumTo).
 */
import { weightsChanged } from '../weights_generation';
import { record } from '../autograd';
import { checkNumber } from '../check';
import { ArgumentError, describe, ShapeError } from '../errors';
import { native } from '../native';
import { BinaryCode, UnaryCode } from '../native_api';
import { attr } from '../onnx/builder';
import type { OnnxEmitContext, OnnxForm } from '../onnx/trace';
import { Tensor } from '../tensor';
import { BINARY_SECOND, sumTo } from './broadcast';
import { broadcastShapes, checkSameDevice, checkTensor, sameShape } from './validate';

/** Native unary op codes (native/math/pointwise.h UnaryOp). */
export { UnaryCode };

/**
 * y = f(x) for a native unary op; `saves` says which tensor the gradient formula reads
 * (the input x, the output y, or neither), so only that one is kept alive by the graph.
 * `onnx` is the op's ONNX form when the op's own file declares it (default: the forms below).
 */
export function unaryOp(
  name: string,
  x: Tensor,
  code: number,
  saves: 'x' | 'y' | 'none',
  a = 0,
  b = 0,
  onnx?: OnnxForm,
): Tensor {
  checkTensor(name, 'x', x);
  const out = Tensor.empty(x.shape, { device: x.device });
  native().unary(x, out, code, a, b);
  const savedX = saves === 'x' ? x : null;
  return record(
    name,
    [x],
    out,
    (g) => {
      const gx = Tensor.empty(x.shape, { device: x.device });
      native().unaryBackward(g, savedX, saves === 'y' ? out : null, gx, code, a, b);
      return [gx];
    },
    onnx ?? ((ctx) => unaryOnnx(ctx, x, code, a, b)),
  );
}

const SIMPLE_UNARY: Record<number, string> = {
  [UnaryCode.neg]: 'Neg',
  [UnaryCode.exp]: 'Exp',
  [UnaryCode.log]: 'Log',
  [UnaryCode.sqrt]: 'Sqrt',
  [UnaryCode.relu]: 'Relu',
  [UnaryCode.sigmoid]: 'Sigmoid',
  [UnaryCode.tanh]: 'Tanh',
  [UnaryCode.abs]: 'Abs',
};

/** The ONNX form of a native unary op (code and its parameters a, b). */
function unaryOnnx(ctx: OnnxEmitContext, x: Tensor, code: number, a: number, b: number): void {
  const xn = ctx.name(x);
  const simple = SIMPLE_UNARY[code];
  if (simple) {
    ctx.node(simple, [xn], [ctx.output]);
  } else if (code === UnaryCode.leakyRelu) {
    ctx.node('LeakyRelu', [xn], [ctx.output], { alpha: attr.float(a) });
  } else if (code === UnaryCode.silu) {
    const [s] = ctx.node('Sigmoid', [xn]);
    ctx.node('Mul', [xn, s], [ctx.output]);
  } else if (code === UnaryCode.pow) {
    ctx.node('Pow', [xn, ctx.constant([a], [])], [ctx.output]);
  } else if (code === UnaryCode.clamp) {
    const lo = Number.isFinite(a) ? ctx.constant([a], []) : '';
    const hi = Number.isFinite(b) ? ctx.constant([b], []) : '';
    ctx.node('Clip', hi ? [xn, lo, hi] : lo ? [xn, lo] : [xn], [ctx.output]);
  } else if (code === UnaryCode.affine) {
    // s * x + t, with the trivial halves left out.
    if (a === 1 && b === 0) ctx.node('Identity', [xn], [ctx.output]);
    else if (b === 0) ctx.node('Mul', [xn, ctx.constant([a], [])], [ctx.output]);
    else if (a === 1) ctx.node('Add', [xn, ctx.constant([b], [])], [ctx.output]);
    else {
      const [m] = ctx.node('Mul', [xn, ctx.constant([a], [])]);
      ctx.node('Add', [m, ctx.constant([b], [])], [ctx.output]);
    }
  } else {
    ctx.fail(`unary op code ${code} has no ONNX form`);
  }
}

function binaryOnnx(type: string, a: Tensor, b: Tensor): OnnxForm {
  return { type, inputs: [a, b] };
}

function operand(where: string, name: string, v: unknown): Tensor | number {
  if (typeof v === 'number') return v;
  return checkTensor(where, name, v);
}

function binaryOp(name: 'add' | 'sub' | 'mul' | 'div', a: Tensor, b: Tensor): Tensor {
  checkSameDevice(name, ['a', 'b'], [a, b]);
  const shape = broadcastShapes(name, ['a', 'b'], a.shape, b.shape);
  const out = Tensor.empty(shape, { device: a.device });
  native().binary(a, b, out, BinaryCode[name]);
  return out;
}

/** a + b (broadcasting); b may be a number. */
export function add(a: Tensor, b: Tensor | number): Tensor {
  checkTensor('add', 'a', a);
  const bb = operand('add', 'b', b);
  if (typeof bb === 'number') return affine('add', a, 1, checkNumberOperand('add', bb));
  const out = binaryOp('add', a, bb);
  return record(
    'add',
    [a, bb],
    out,
    (g) => [a.requiresGrad ? sumTo(g, a.shape) : null, bb.requiresGrad ? sumTo(g, bb.shape) : null],
    binaryOnnx('Add', a, bb),
  );
}

/** a - b (broadcasting); b may be a number. */
export function sub(a: Tensor, b: Tensor | number): Tensor {
  checkTensor('sub', 'a', a);
  const bb = operand('sub', 'b', b);
  if (typeof bb === 'number') return affine('sub', a, 1, -checkNumberOperand('sub', bb));
  const out = binaryOp('sub', a, bb);
  return record(
    'sub',
    [a, bb],
    out,
    (g) => [a.requiresGrad ? sumTo(g, a.shape) : null, bb.requiresGrad ? sumTo(neg(g), bb.shape) : null],
    binaryOnnx('Sub', a, bb),
  );
}

/** a * b (broadcasting); b may be a number. */
export function mul(a: Tensor, b: Tensor | number): Tensor {
  checkTensor('mul', 'a', a);
  const bb = operand('mul', 'b', b);
  if (typeof bb === 'number') return affine('mul', a, checkNumberOperand('mul', bb), 0);
  const out = binaryOp('mul', a, bb);
  return record(
    'mul',
    [a, bb],
    out,
    (g) => [a.requiresGrad ? sumTo(mul(g, bb), a.shape) : null, bb.requiresGrad ? sumTo(mul(g, a), bb.shape) : null],
    binaryOnnx('Mul', a, bb),
  );
}

/** a / b (broadcasting); b may be a number. */
export function div(a: Tensor, b: Tensor | number): Tensor {
  checkTensor('div', 'a', a);
  const bb = operand('div', 'b', b);
  if (typeof bb === 'number') return affine('div', a, 1 / checkNumberOperand('div', bb), 0);
  const out = binaryOp('div', a, bb);
  return record(
    'div',
    [a, bb],
    out,
    (g) => {
      // d(a/b)/da = 1/b; d(a/b)/db = -a/b^2 = -(g/b) * out.
      const ga = div(g, bb);
      return [a.requiresGrad ? sumTo(ga, a.shape) : null, bb.requiresGrad ? sumTo(neg(mul(ga, out)), bb.shape) : null];
    },
    binaryOnnx('Div', a, bb),
  );
}

function checkNumberOperand(where: string, v: number): number {
  if (Number.isNaN(v)) throw new ArgumentError(`${where}: expected b to be a number but received NaN`);
  return v;
}

/** s * x + t, recorded under `name`. */
function affine(name: string, x: Tensor, s: number, t: number): Tensor {
  return unaryOp(name, x, UnaryCode.affine, 'none', s, t);
}

/** s * x for a number s. */
export function scale(x: Tensor, s: number): Tensor {
  checkNumber('scale', 's', s);
  return affine('scale', checkTensor('scale', 'x', x), s, 0);
}

export function neg(x: Tensor): Tensor {
  return unaryOp('neg', x, UnaryCode.neg, 'none');
}

export function exp(x: Tensor): Tensor {
  return unaryOp('exp', x, UnaryCode.exp, 'y');
}

/** Natural logarithm (log of a negative number is NaN, of 0 is -Infinity, as in PyTorch). */
export function log(x: Tensor): Tensor {
  return unaryOp('log', x, UnaryCode.log, 'x');
}

export function sqrt(x: Tensor): Tensor {
  return unaryOp('sqrt', x, UnaryCode.sqrt, 'y');
}

export function abs(x: Tensor): Tensor {
  return unaryOp('abs', x, UnaryCode.abs, 'x');
}

/** x ** p for a number p. */
export function pow(x: Tensor, p: number): Tensor {
  checkNumber('pow', 'p', p);
  return unaryOp('pow', x, UnaryCode.pow, 'x', p);
}

/** min(max(x, min), max); either bound may be omitted. */
export function clamp(x: Tensor, min?: number | null, max?: number | null): Tensor {
  const lo = min ?? -Infinity;
  const hi = max ?? Infinity;
  if (typeof lo !== 'number' || Number.isNaN(lo))
    throw new ArgumentError(`clamp: expected min to be a number but received ${describe(min)}`);
  if (typeof hi !== 'number' || Number.isNaN(hi))
    throw new ArgumentError(`clamp: expected max to be a number but received ${describe(max)}`);
  if (lo > hi) throw new ArgumentError(`clamp: expected min <= max but received min ${lo} and max ${hi}`);
  return unaryOp('clamp', x, UnaryCode.clamp, 'x', lo, hi);
}

// ---- helpers that are not recorded by autograd ------------------------------------------

export function zerosLike(x: Tensor): Tensor {
  checkTensor('zerosLike', 'x', x);
  return Tensor.zeros(x.shape, { device: x.device });
}

export function onesLike(x: Tensor): Tensor {
  return fullLike(x, 1);
}

export function fullLike(x: Tensor, value: number): Tensor {
  checkTensor('fullLike', 'x', x);
  const out = Tensor.empty(x.shape, { device: x.device });
  native().fill(out, checkFill('fullLike', value));
  return out;
}

function checkFill(where: string, value: unknown): number {
  if (typeof value !== 'number')
    throw new ArgumentError(`${where}: expected value to be a number but received ${describe(value)}`);
  return value;
}

/** Sets every element of t to value, in place. Returns t. */
export function fill_(t: Tensor, value: number): Tensor {
  checkTensor('fill_', 't', t);
  weightsChanged();
  native().fill(t, checkFill('fill_', value));
  return t;
}

/** Copies src into dst in place (src broadcasts to dst's shape). Returns dst. */
export function copy_(dst: Tensor, src: Tensor): Tensor {
  checkTensor('copy_', 'dst', dst);
  checkTensor('copy_', 'src', src);
  checkSameDevice('copy_', ['dst', 'src'], [dst, src]);
  const b = broadcastShapes('copy_', ['dst', 'src'], dst.shape, src.shape);
  if (!sameShape(b, dst.shape)) {
    throw new ShapeError(
      `copy_: expected src to broadcast to dst's shape [${dst.shape.join(', ')}] but received [${src.shape.join(', ')}]`,
    );
  }
  weightsChanged();
  native().binary(src, src, dst, BINARY_SECOND);
  return dst;
}

/**
 * a += b in place, not recorded by autograd (gradient accumulation, optimizers). b may
 * broadcast to a's shape; a b with a's element count but another shape is added element by
 * element (autograd hands over gradients as views of other shapes).
 */
export function addInPlace(a: Tensor, b: Tensor): Tensor {
  checkTensor('addInPlace', 'a', a);
  checkTensor('addInPlace', 'b', b);
  checkSameDevice('addInPlace', ['a', 'b'], [a, b]);
  if (a.numel === b.numel && (sameShape(a.shape, b.shape) || b.numel === 1 || !canBroadcastTo(b.shape, a.shape))) {
    native().addInPlace(a, b);
    return a;
  }
  if (!canBroadcastTo(b.shape, a.shape)) {
    throw new ShapeError(
      `addInPlace: expected b to broadcast to a's shape [${a.shape.join(', ')}] but received [${b.shape.join(', ')}]`,
    );
  }
  const wide = Tensor.empty(a.shape, { device: a.device });
  native().binary(b, b, wide, BINARY_SECOND);
  native().addInPlace(a, wide);
  wide.dispose();
  return a;
}

function canBroadcastTo(from: readonly number[], to: readonly number[]): boolean {
  if (from.length > to.length) return false;
  const lead = to.length - from.length;
  return from.every((d, i) => d === 1 || d === to[i + lead]);
}
