/**
 * The inference epilogue the fused convolutions (conv2dFused, deformConv2dFused) take:
 * relu?(conv(...) + residual?). On the CPU, outside autograd and ONNX tracing, native code runs
 * it while it writes each image's output (native/cpu/conv_epilogue.h); elsewhere it is the
 * composition of the plain op, add and relu, with their gradients and ONNX forms.
 */
import { isGradEnabled } from '../autograd';
import { shapeString } from '../check';
import { ArgumentError, describe, DeviceError, ShapeError } from '../errors';
import { activeTracer } from '../onnx/trace';
import { Tensor } from '../tensor';
import { relu as reluOp } from './activation';
import { add } from './elementwise';

export interface EpilogueOptions {
  /** Added to the convolution's output ([N, O, OH, OW], e.g. a residual block's identity). */
  residual?: Tensor | null;
  /** Apply ReLU last. */
  relu?: boolean;
}

/** The option keys of EpilogueOptions (for checkOptionKeys). */
export const EPILOGUE_KEYS = ['residual', 'relu'] as const;

export interface Epilogue {
  residual: Tensor | null;
  relu: boolean;
}

/** Checks `residual` against the output's shape and device, and `relu`. */
export function checkEpilogue(
  where: string,
  options: EpilogueOptions,
  outShape: readonly number[],
  device: Tensor['device'],
): Epilogue {
  const residual = options.residual ?? null;
  if (residual !== null) {
    if (!(residual instanceof Tensor))
      throw new ArgumentError(`${where}: expected residual to be a Tensor or null but received ${describe(residual)}`);
    if (residual.shape.length !== outShape.length || residual.shape.some((d, i) => d !== outShape[i])) {
      throw new ShapeError(
        `${where}: expected residual of the output's shape ${shapeString(outShape)} but received ${shapeString(residual.shape)}`,
      );
    }
    if (residual.device !== device)
      throw new DeviceError(`${where}: input is on ${device} but residual is on ${residual.device}`);
  }
  const relu = options.relu ?? false;
  if (typeof relu !== 'boolean')
    throw new ArgumentError(`${where}: expected relu to be a boolean but received ${describe(relu)}`);
  return { residual, relu };
}

/**
 * Whether the native fused call may run: a CPU input, no gradient wanted through any of
 * `tensors`, no ONNX trace recording.
 */
export function canRunFused(device: Tensor['device'], tensors: readonly (Tensor | null)[]): boolean {
  if (device !== 'cpu' || activeTracer() !== null) return false;
  return !(isGradEnabled() && tensors.some((t) => t?.requiresGrad));
}

/** The epilogue as separate ops (recorded for autograd and ONNX): relu?(y + residual?). */
export function applyEpilogue(y: Tensor, { residual, relu }: Epilogue): Tensor {
  const sum = residual ? add(y, residual) : y;
  return relu ? reluOp(sum) : sum;
}
