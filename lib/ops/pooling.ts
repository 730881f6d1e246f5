/**
 * 2-D pooling with PyTorch's semantics (input [N, C, H, W], or unbatched [C, H, W]): max_pool2d
 * (argmax indices saved natively for the backward), avg_pool2d (ceil_mode, count_include_pad)
 * and adaptive_avg_pool2d (PyTorch's floor/ceil window bounds, with a global-average fast path
 * for a 1x1 output).
 */
import { isGradEnabled, record } from '../autograd';
import { checkNonEmptyImage } from './validate';
import { checkOptionKeys, checkPair, shapeString } from '../check';
import { ArgumentError, describe, ShapeError } from '../errors';
import { native } from '../native';
import type { AvgPoolOptions, MaxPoolOptions } from '../native_api';
import { onnxPads } from '../onnx/trace';
import { Tensor } from '../tensor';
import { reshape } from './shape';

export interface MaxPool2dOptions {
  kernelSize: number | [number, number];
  /** Defaults to kernelSize. */
  stride?: number | [number, number] | null;
  padding?: number | [number, number];
  dilation?: number | [number, number];
  ceilMode?: boolean;
}

export interface AvgPool2dOptions {
  kernelSize: number | [number, number];
  /** Defaults to kernelSize. */
  stride?: number | [number, number] | null;
  padding?: number | [number, number];
  ceilMode?: boolean;
  /** Divide by the full window including padding (default true, as PyTorch). */
  countIncludePad?: boolean;
}

/** PyTorch's pooling_output_shape (see native/math/pooling.h). */
export function poolOutputSize(
  inSize: number,
  kernel: number,
  stride: number,
  pad: number,
  dilation: number,
  ceilMode: boolean,
): number {
  const span = inSize + 2 * pad - dilation * (kernel - 1) - 1 + (ceilMode ? stride - 1 : 0);
  let out = Math.floor(span / stride) + 1;
  if (ceilMode && (out - 1) * stride >= inSize + pad) out--;
  return out;
}

function checkInput(where: string, x: unknown): Tensor {
  if (!(x instanceof Tensor))
    throw new ArgumentError(`${where}: expected x to be a Tensor but received ${describe(x)}`);
  if (x.ndim !== 4 && x.ndim !== 3) {
    throw new ShapeError(
      `${where}: expected x to have 4 dimensions [N, C, H, W] (or 3, [C, H, W]) but received shape ${shapeString(x.shape)}`,
    );
  }
  checkNonEmptyImage(where, 'x', x);
  return x;
}

/** Unbatched [C, H, W] input, as PyTorch allows: pool it as a batch of one (differentiably). */
function unbatched(x: Tensor, pool: (x4: Tensor) => Tensor): Tensor {
  const y = pool(reshape(x, [1, ...x.shape]));
  return reshape(y, y.shape.slice(1));
}

function checkBool(where: string, name: string, v: unknown, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean')
    throw new ArgumentError(`${where}: expected ${name} to be a boolean but received ${describe(v)}`);
  return v;
}

const MAX_POOL_KEYS = ['kernelSize', 'stride', 'padding', 'dilation', 'ceilMode'];
const AVG_POOL_KEYS = ['kernelSize', 'stride', 'padding', 'ceilMode', 'countIncludePad'];

interface PoolGeometry {
  kernel: [number, number];
  stride: [number, number];
  padding: [number, number];
  dilation: [number, number];
  ceilMode: boolean;
  outShape: number[];
}

function poolGeometry(
  where: string,
  x: Tensor,
  o: MaxPool2dOptions | AvgPool2dOptions,
  dilationAllowed: boolean,
): PoolGeometry {
  if (o === null || typeof o !== 'object') {
    throw new ArgumentError(`${where}: expected options to be an object with kernelSize but received ${describe(o)}`);
  }
  checkOptionKeys(where, o, dilationAllowed ? MAX_POOL_KEYS : AVG_POOL_KEYS);
  const kernel = checkPair(where, 'kernelSize', o.kernelSize, 1);
  const stride = o.stride === undefined || o.stride === null ? kernel : checkPair(where, 'stride', o.stride, 1);
  const padding = checkPair(where, 'padding', o.padding ?? 0, 0);
  const dilation = dilationAllowed
    ? checkPair(where, 'dilation', (o as MaxPool2dOptions).dilation ?? 1, 1)
    : ([1, 1] as [number, number]);
  const ceilMode = checkBool(where, 'ceilMode', o.ceilMode, false);
  for (let i = 0; i < 2; i++) {
    if (padding[i] * 2 > kernel[i]) {
      throw new ArgumentError(
        `${where}: expected padding to be at most half of kernelSize but received padding ${shapeString(padding)} for kernelSize ${shapeString(kernel)}`,
      );
    }
  }
  const n = x.shape[0],
    c = x.shape[1],
    h = x.shape[2],
    w = x.shape[3];
  const oh = poolOutputSize(h, kernel[0], stride[0], padding[0], dilation[0], ceilMode);
  const ow = poolOutputSize(w, kernel[1], stride[1], padding[1], dilation[1], ceilMode);
  // A window wider than the whole padded input is only reachable with ceilMode and a stride
  // beyond the input (PyTorch then pools one window mostly outside); refused as not fitting.
  const tooWide =
    dilation[0] * (kernel[0] - 1) + 1 > x.shape[2] + 2 * padding[0] ||
    dilation[1] * (kernel[1] - 1) + 1 > x.shape[3] + 2 * padding[1];
  if (oh < 1 || ow < 1 || tooWide) {
    throw new ShapeError(
      `${where}: expected the kernel (size ${shapeString(kernel)}, dilation ${shapeString(dilation)}) to fit the padded input, but input ${shapeString(x.shape)} with padding ${shapeString(padding)} gives output size ${oh}x${ow}`,
    );
  }
  return { kernel, stride, padding, dilation, ceilMode, outShape: [n, c, oh, ow] };
}

/** F.max_pool2d. */
export function maxPool2d(x: Tensor, options: MaxPool2dOptions): Tensor {
  const where = 'maxPool2d';
  checkInput(where, x);
  if (x.ndim === 3) return unbatched(x, (x4) => maxPool2d(x4, options));
  const g = poolGeometry(where, x, options, true);
  const y = Tensor.empty(g.outShape, { device: x.device });
  const onnx = {
    type: 'MaxPool',
    inputs: [x],
    attrs: {
      kernel_shape: g.kernel,
      strides: g.stride,
      pads: onnxPads(g.padding),
      dilations: g.dilation,
      ceil_mode: g.ceilMode ? 1 : 0,
    },
  };
  if (!isGradEnabled() || !x.requiresGrad) {
    // Inference: values only, no argmax bookkeeping (recorded only for an ONNX trace).
    native().maxPool2dForward(x, y, null, maxOptions(g));
    return record('maxPool2d', [x], y, () => [null], onnx);
  }
  // int32 argmax per output, stored in a float32 tensor's bits (never read as floats).
  const indices = Tensor.empty(g.outShape, { device: x.device });
  native().maxPool2dForward(x, y, indices, maxOptions(g));
  return record(
    'maxPool2d',
    [x],
    y,
    (gy) => {
      const gx = Tensor.empty(x.shape, { device: x.device });
      native().maxPool2dBackward(gy, indices, gx);
      return [gx];
    },
    onnx,
  );
}

/** The native max-pooling options of a geometry. */
function maxOptions(g: PoolGeometry): MaxPoolOptions {
  return { kernelSize: g.kernel, stride: g.stride, padding: g.padding, dilation: g.dilation, ceilMode: g.ceilMode };
}

/** F.avg_pool2d. */
export function avgPool2d(x: Tensor, options: AvgPool2dOptions): Tensor {
  const where = 'avgPool2d';
  checkInput(where, x);
  if (x.ndim === 3) return unbatched(x, (x4) => avgPool2d(x4, options));
  const g = poolGeometry(where, x, options, false);
  const includePad = checkBool(where, 'countIncludePad', options.countIncludePad, true);
  const y = Tensor.empty(g.outShape, { device: x.device });
  const window: AvgPoolOptions = {
    kernelSize: g.kernel,
    stride: g.stride,
    padding: g.padding,
    ceilMode: g.ceilMode,
    countIncludePad: includePad,
  };
  native().avgPool2dForward(x, y, window);
  return record(
    'avgPool2d',
    [x],
    y,
    (gy) => {
      const gx = Tensor.empty(x.shape, { device: x.device });
      native().avgPool2dBackward(gy, gx, window);
      return [gx];
    },
    {
      type: 'AveragePool',
      inputs: [x],
      attrs: {
        kernel_shape: g.kernel,
        strides: g.stride,
        pads: onnxPads(g.padding),
        ceil_mode: g.ceilMode ? 1 : 0,
        count_include_pad: includePad ? 1 : 0,
      },
    },
  );
}

/**
 * F.adaptive_avg_pool2d: outputSize is a number or [h, w]; null in the pair keeps that
 * input dimension.
 */
export function adaptiveAvgPool2d(x: Tensor, outputSize: number | [number | null, number | null]): Tensor {
  const where = 'adaptiveAvgPool2d';
  checkInput(where, x);
  if (x.ndim === 3) return unbatched(x, (x4) => adaptiveAvgPool2d(x4, outputSize));
  const n = x.shape[0],
    c = x.shape[1],
    h = x.shape[2],
    w = x.shape[3];
  const pair = typeof outputSize === 'number' ? [outputSize, outputSize] : outputSize;
  if (!Array.isArray(pair) || pair.length !== 2) {
    throw new ArgumentError(
      `${where}: expected outputSize to be a positive integer or a pair [h, w] but received ${describe(outputSize)}`,
    );
  }
  const resolved = pair.map((v, i) => (v === null ? [h, w][i] : v));
  const [oh, ow] = checkPair(where, 'outputSize', resolved, 1);
  if (h < 1 || w < 1) {
    throw new ShapeError(`${where}: expected x to have non-empty planes but received shape ${shapeString(x.shape)}`);
  }
  const y = Tensor.empty([n, c, oh, ow], { device: x.device });
  native().adaptiveAvgPool2dForward(x, y);
  return record(
    'adaptiveAvgPool2d',
    [x],
    y,
    (gy) => {
      const gx = Tensor.empty(x.shape, { device: x.device });
      native().adaptiveAvgPool2dBackward(gy, gx);
      return [gx];
    },
    (ctx) => {
      if (oh === 1 && ow === 1) ctx.node('GlobalAveragePool', [ctx.name(x)], [ctx.output]);
      else if (h % oh === 0 && w % ow === 0) {
        const kernel = [h / oh, w / ow];
        ctx.node('AveragePool', [ctx.name(x)], [ctx.output], { kernel_shape: kernel, strides: kernel });
      } else {
        ctx.fail(
          `adaptive average pooling from ${h}x${w} to ${oh}x${ow} has no ONNX form (ONNX has no adaptive pooling); ` +
            'use an output size of 1 or one that divides the input size',
        );
      }
    },
  );
}

/** Global average pooling: [N, C, H, W] -> [N, C, 1, 1] (adaptiveAvgPool2d(x, 1)). */
export function globalAvgPool2d(x: Tensor): Tensor {
  return adaptiveAvgPool2d(x, 1);
}
