/**
 * Batch normalisation over the channels of NCHW input, with PyTorch's semantics:
 * training normalises with the batch mean and biased variance and updates the running
 * statistics in place (unbiased variance, momentum); eval normalises with the running
 * statistics. One fused native kernel for each direction; the backward uses the mean and
 * 1/std saved by the forward. On the CPU a residual block's epilogue, relu?(bn(x) + residual?),
 * runs in the same kernels (training too): `residual` and `relu`.
 */
import { record } from '../autograd';
import { checkOptionKeys, expectOptionsObject, shapeString } from '../check';
import { ArgumentError, DeviceError, describe, ShapeError } from '../errors';
import { native } from '../native';
import { attr } from '../onnx/builder';
import { activeTracer } from '../onnx/trace';
import { Tensor } from '../tensor';
import { applyEpilogue, checkEpilogue, EPILOGUE_KEYS, EpilogueOptions } from './epilogue';

export interface BatchNormOptions extends EpilogueOptions {
  /** Use batch statistics and update the running ones (default false, as F.batch_norm). */
  training?: boolean;
  /**
   * Weight of the new batch statistics in the running average (default 0.1). A module with
   * PyTorch's momentum=None (cumulative average) passes 1 / numBatchesTracked here.
   */
  momentum?: number;
  /** Added to the variance before the square root (default 1e-5). */
  eps?: number;
}

const WHERE = 'batchNorm2d';

function checkChannelVector(name: string, t: unknown, x: Tensor): Tensor | null {
  if (t === null || t === undefined) return null;
  if (!(t instanceof Tensor)) {
    throw new ArgumentError(`${WHERE}: expected ${name} to be a Tensor or null but received ${describe(t)}`);
  }
  const c = x.shape[1];
  if (t.ndim !== 1 || t.shape[0] !== c) {
    throw new ShapeError(
      `${WHERE}: expected ${name} of shape [${c}] (one value per channel of x ${shapeString(x.shape)}) but received ${shapeString(t.shape)}`,
    );
  }
  if (t.device !== x.device) throw new DeviceError(`${WHERE}: x is on ${x.device} but ${name} is on ${t.device}`);
  return t;
}

/** F.batch_norm for 4-D input: y = (x - mean) / sqrt(var + eps) * weight + bias. */
export function batchNorm2d(
  x: Tensor,
  runningMean: Tensor | null,
  runningVar: Tensor | null,
  weight: Tensor | null = null,
  bias: Tensor | null = null,
  options: BatchNormOptions = {},
): Tensor {
  if (!(x instanceof Tensor))
    throw new ArgumentError(`${WHERE}: expected x to be a Tensor but received ${describe(x)}`);
  if (x.ndim !== 4) {
    throw new ShapeError(
      `${WHERE}: expected x to have 4 dimensions [N, C, H, W] but received shape ${shapeString(x.shape)}`,
    );
  }
  const rm = checkChannelVector('runningMean', runningMean, x);
  const rv = checkChannelVector('runningVar', runningVar, x);
  const w = checkChannelVector('weight', weight, x);
  const b = checkChannelVector('bias', bias, x);
  expectOptionsObject(WHERE, options, '{ training, momentum, eps }');
  checkOptionKeys(WHERE, options, ['training', 'momentum', 'eps', ...EPILOGUE_KEYS]);
  const epilogue = checkEpilogue(WHERE, options, x.shape, x.device);
  const training = options.training ?? false;
  if (typeof training !== 'boolean') {
    throw new ArgumentError(`${WHERE}: expected training to be a boolean but received ${describe(training)}`);
  }
  const momentum = options.momentum ?? 0.1;
  if (typeof momentum !== 'number' || !(momentum >= 0 && momentum <= 1)) {
    throw new ArgumentError(`${WHERE}: expected momentum to be a number in [0, 1] but received ${describe(momentum)}`);
  }
  const eps = options.eps ?? 1e-5;
  if (typeof eps !== 'number' || !(eps >= 0) || !Number.isFinite(eps)) {
    throw new ArgumentError(`${WHERE}: expected eps to be a non-negative finite number but received ${describe(eps)}`);
  }
  if ((rm === null) !== (rv === null)) {
    throw new ArgumentError(`${WHERE}: expected runningMean and runningVar to be both given or both null`);
  }
  if (!training && rm === null) {
    throw new ArgumentError(
      `${WHERE}: expected runningMean and runningVar in eval mode (training false) but received null`,
    );
  }
  const [n, c, h, wd] = x.shape;
  if (training && n * h * wd <= 1) {
    throw new ShapeError(
      `${WHERE}: expected more than 1 value per channel when training but received x of shape ${shapeString(x.shape)}`,
    );
  }
  const { residual, relu } = epilogue;
  // The epilogue runs in the native kernels on the CPU; elsewhere it is the separate ops, and so
  // it is in an ONNX trace (BatchNormalization, Add, Relu).
  if ((residual || relu) && (x.device !== 'cpu' || activeTracer() !== null)) {
    return applyEpilogue(batchNorm2d(x, rm, rv, w, b, { training, momentum, eps }), epilogue);
  }
  const y = Tensor.empty(x.shape, { device: x.device });
  const saveMean = Tensor.empty([c], { device: x.device });
  const saveInvstd = Tensor.empty([c], { device: x.device });
  native().batchNorm2dForward(x, y, rm, rv, w, b, saveMean, saveInvstd, training, momentum, eps, residual, relu);
  return record(
    'batchNorm2d',
    [x, w, b, residual],
    y,
    (g) => {
      const gx = x.requiresGrad ? Tensor.empty(x.shape, { device: x.device }) : null;
      const gw = w?.requiresGrad ? Tensor.empty([c], { device: x.device }) : null;
      const gb = b?.requiresGrad ? Tensor.empty([c], { device: x.device }) : null;
      const gr = residual?.requiresGrad ? Tensor.empty(x.shape, { device: x.device }) : null;
      // With ReLU, its output y masks g (y > 0), as ReLU's own backward would.
      native().batchNorm2dBackward(x, g, saveMean, saveInvstd, w, gx, gw, gb, training, relu ? y : null, gr);
      return [gx, gw, gb, gr];
    },
    (ctx) => {
      if (training)
        ctx.fail(
          'batch normalisation in training mode has no ONNX form; export the model in eval mode (exportOnnx does this)',
        );
      const ones = w ? ctx.name(w) : ctx.constant(new Float32Array(c).fill(1), [c]);
      const zeros = b ? ctx.name(b) : ctx.constant(new Float32Array(c), [c]);
      ctx.node('BatchNormalization', [ctx.name(x), ones, zeros, ctx.name(rm), ctx.name(rv)], [ctx.output], {
        epsilon: attr.float(eps),
      });
    },
  );
}
