/**
 * Losses: crossEntropy (fused log-softmax + NLL with label smoothing and ignoreIndex, for
 * classification [N, C] and segmentation [N, C, H, W]), mseLoss, binaryCrossEntropyWithLogits
 * (PyTorch's stable form with posWeight). Kernels: native/cpu/loss.cc, native/cuda/loss.cu.
 */
import { noGrad, record } from '../autograd';
import { checkInt, checkOneOf, checkOptionKeys, expectOptionsObject, shapeString } from '../check';
import { ArgumentError, describe, ShapeError } from '../errors';
import { native } from '../native';
import { activeTracer } from '../onnx/trace';
import { Tensor } from '../tensor';
import { expand } from './broadcast';
import { mul, sub } from './elementwise';
import { mean, sum } from './reduction';
import { broadcastShapes, checkSameDevice, checkTensor, sameShape } from './validate';

export type Reduction = 'mean' | 'sum' | 'none';
const REDUCTIONS = ['mean', 'sum', 'none'] as const;

export interface CrossEntropyOptions {
  /** eps in [0, 1]: the target distribution is (1 - eps) one-hot + eps / C uniform. */
  labelSmoothing?: number;
  reduction?: Reduction;
  /** Positions whose target equals this contribute nothing and are not counted by 'mean'. Default -100. */
  ignoreIndex?: number;
}

/** Sum of all elements of `values` times `scale`, as a 0-d tensor (no autograd). */
function reduceAll(values: Tensor, scale: number): Tensor {
  const out = Tensor.empty([], { device: values.device });
  native().sumDims(
    values,
    values.shape.map((_, i) => i),
    out,
    scale,
  );
  return out;
}

function countNotIgnored(target: Tensor, ignoreIndex: number): number {
  const t = target.device === 'cpu' ? target.data : Float32Array.from(target.toArray());
  let n = 0;
  for (let i = 0; i < t.length; i++) if (t[i] !== ignoreIndex) n++;
  return n;
}

/**
 * Cross-entropy between logits [N, C, ...] and class indices [N, ...] (stored as float values),
 * as torch.nn.functional.cross_entropy with class-index targets.
 */
/** options is an object with only the known keys (a misspelt key is an error, not a default). */
function checkOptionsObject(where: string, options: unknown, keys: readonly string[]): void {
  expectOptionsObject(where, options);
  checkOptionKeys(where, options, keys);
}

export function crossEntropy(logits: Tensor, target: Tensor, options: CrossEntropyOptions = {}): Tensor {
  checkTensor('crossEntropy', 'logits', logits);
  checkTensor('crossEntropy', 'target', target);
  checkSameDevice('crossEntropy', ['logits', 'target'], [logits, target]);
  checkOptionsObject('crossEntropy', options, ['labelSmoothing', 'reduction', 'ignoreIndex']);
  const smoothing = options.labelSmoothing ?? 0;
  if (typeof smoothing !== 'number' || !(smoothing >= 0 && smoothing <= 1)) {
    throw new ArgumentError(
      `crossEntropy: expected labelSmoothing to be a number in [0, 1] but received ${describe(smoothing)}`,
    );
  }
  const reduction = checkOneOf('crossEntropy', 'reduction', options.reduction ?? 'mean', REDUCTIONS);
  const ignoreIndex = checkInt('crossEntropy', 'ignoreIndex', options.ignoreIndex ?? -100);
  if (logits.ndim < 2) {
    throw new ShapeError(
      `crossEntropy: expected logits to have shape [N, C] or [N, C, H, W] but received ${shapeString(logits.shape)}`,
    );
  }
  const targetShape = [logits.shape[0], ...logits.shape.slice(2)];
  if (!sameShape(target.shape, targetShape)) {
    throw new ShapeError(
      `crossEntropy: expected target of shape ${shapeString(targetShape)} for logits of shape ${shapeString(logits.shape)} but received ${shapeString(target.shape)}`,
    );
  }
  const perPosition = Tensor.empty(targetShape, { device: logits.device });
  // Per position: the maximum logit and log(sum(exp(logit - maximum))), saved for the backward.
  const stats = Tensor.empty([...targetShape, 2], { device: logits.device });
  native().crossEntropy(logits, target, ignoreIndex, smoothing, perPosition, stats);

  let out = perPosition;
  let scale = 1;
  if (reduction !== 'none') {
    scale = reduction === 'mean' ? 1 / countNotIgnored(target, ignoreIndex) : 1;
    out = reduceAll(perPosition, scale);
    perPosition.dispose();
  }
  return record('crossEntropy', [logits, null], out, (g) => {
    const grad = Tensor.empty(logits.shape, { device: logits.device });
    native().crossEntropyBackward(logits, target, stats, g, scale, ignoreIndex, smoothing, grad);
    return [grad, null];
  });
}

export interface LossOptions {
  reduction?: Reduction;
}

function applyReduction(where: string, values: Tensor, reduction: unknown): Tensor {
  const r = checkOneOf(where, 'reduction', reduction ?? 'mean', REDUCTIONS);
  return r === 'none' ? values : r === 'sum' ? sum(values) : mean(values);
}

/**
 * Mean (or sum, or elementwise) squared error; input and target broadcast. CPU tensors of one
 * shape take one fused pass each way (the sum of squares without the differences and squares
 * as tensors; the gradient 2 (x - y) g in one pass); otherwise (broadcasting, CUDA, an ONNX
 * trace) the composition sub, mul, mean.
 */
export function mseLoss(input: Tensor, target: Tensor, options: LossOptions = {}): Tensor {
  checkTensor('mseLoss', 'input', input);
  checkTensor('mseLoss', 'target', target);
  checkOptionsObject('mseLoss', options, ['reduction']);
  broadcastShapes('mseLoss', ['input', 'target'], input.shape, target.shape);
  const reduction = checkOneOf('mseLoss', 'reduction', options.reduction ?? 'mean', REDUCTIONS);
  const fused =
    input.device === 'cpu' && target.device === 'cpu' && sameShape(input.shape, target.shape) && !activeTracer();
  if (fused) return fusedSquaredError(input, target, reduction);
  const d = sub(input, target);
  return applyReduction('mseLoss', mul(d, d), reduction);
}

function fusedSquaredError(input: Tensor, target: Tensor, reduction: Reduction): Tensor {
  let out: Tensor;
  let scale = 1;
  if (reduction === 'none') {
    out = Tensor.empty(input.shape);
    native().squaredError(input, target, out);
  } else {
    scale = reduction === 'mean' ? 1 / input.numel : 1; // (an empty mean is NaN, as in PyTorch)
    out = Tensor.full([], native().squaredErrorSum(input, target) * scale);
  }
  return record('mseLoss', [input, target], out, (g) => {
    const gx = input.requiresGrad ? Tensor.empty(input.shape) : null;
    const gy = target.requiresGrad ? Tensor.empty(input.shape) : null;
    native().squaredErrorBackward(input, target, g, scale, gx, gy);
    return [gx, gy];
  });
}

export interface BceWithLogitsOptions {
  reduction?: Reduction;
  /**
   * Weight of positive examples: a number, or a tensor broadcasting to input (e.g. one per
   * class). Not differentiated.
   */
  posWeight?: number | Tensor;
}

/**
 * Binary cross-entropy on logits, PyTorch's numerically stable form:
 *   l = (1 - y) x + (1 + (posWeight - 1) y) log(1 + exp(-x)).
 */
export function binaryCrossEntropyWithLogits(
  input: Tensor,
  target: Tensor,
  options: BceWithLogitsOptions = {},
): Tensor {
  const where = 'binaryCrossEntropyWithLogits';
  checkTensor(where, 'input', input);
  checkTensor(where, 'target', target);
  checkSameDevice(where, ['input', 'target'], [input, target]);
  checkOptionsObject(where, options, ['reduction', 'posWeight']);
  if (!sameShape(input.shape, target.shape)) {
    throw new ShapeError(
      `${where}: expected target of shape ${shapeString(input.shape)} (the input's) but received ${shapeString(target.shape)}`,
    );
  }
  const reduction = checkOneOf(where, 'reduction', options.reduction ?? 'mean', REDUCTIONS);
  let pwTensor: Tensor | null = null;
  let pwScalar = 1;
  const pw = options.posWeight;
  if (pw instanceof Tensor) {
    checkSameDevice(where, ['input', 'posWeight'], [input, pw]);
    const b = broadcastShapes(where, ['input', 'posWeight'], input.shape, pw.shape);
    if (!sameShape(b, input.shape)) {
      throw new ShapeError(
        `${where}: expected posWeight to broadcast to the input's shape ${shapeString(input.shape)} but received ${shapeString(pw.shape)}`,
      );
    }
    pwTensor = sameShape(pw.shape, input.shape) ? pw : noGrad(() => expand(pw, input.shape));
  } else if (pw !== undefined) {
    if (typeof pw !== 'number' || !Number.isFinite(pw)) {
      throw new ArgumentError(`${where}: expected posWeight to be a number or a Tensor but received ${describe(pw)}`);
    }
    pwScalar = pw;
  }
  const values = Tensor.empty(input.shape, { device: input.device });
  native().bceWithLogits(input, target, pwTensor, pwScalar, values);
  let out = values;
  let scale = 1;
  if (reduction !== 'none') {
    scale = reduction === 'mean' ? 1 / input.numel : 1;
    out = reduceAll(values, scale);
    values.dispose();
  }
  return record(where, [input, target], out, (g) => {
    const gx = input.requiresGrad ? Tensor.empty(input.shape, { device: input.device }) : null;
    const gy = target.requiresGrad ? Tensor.empty(input.shape, { device: input.device }) : null;
    native().bceWithLogitsBackward(input, target, pwTensor, pwScalar, g, scale, gx, gy);
    return [gx, gy];
  });
}
