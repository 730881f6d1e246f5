/**
 * F.interpolate for 4-D input, modes 'nearest' and 'bilinear', with PyTorch's coordinate
 * rules (native/math/interpolate.h): nearest takes floor(dst * in/out); bilinear maps
 * pixel centres (alignCorners false) or corner pixels (alignCorners true). With a scale
 * factor and no size, the output is floor(in * scale) and the coordinates use 1/scale, as
 * PyTorch does unless recomputeScaleFactor is set.
 */
import { record } from '../autograd';
import { OnnxEmitContext } from '../onnx/trace';
import { checkOneOf, checkOptionKeys, expectOptionsObject, isInt, shapeString } from '../check';
import { ArgumentError, DeviceError, describe, ShapeError } from '../errors';
import { native } from '../native';
import { Tensor } from '../tensor';

export type InterpolateMode = 'nearest' | 'bilinear';

export interface InterpolateOptions {
  size?: number | [number, number];
  scaleFactor?: number | [number, number];
  mode?: InterpolateMode;
  /** Only for 'bilinear' (default false). */
  alignCorners?: boolean;
  /** Compute the coordinates from the output size instead of the scale factor (default false). */
  recomputeScaleFactor?: boolean;
}

const WHERE = 'interpolate';

function pairOf<T>(v: T | [T, T]): unknown[] {
  return Array.isArray(v) ? v : [v, v];
}

export function interpolate(x: Tensor, options: InterpolateOptions): Tensor {
  if (!(x instanceof Tensor))
    throw new ArgumentError(`${WHERE}: expected x to be a Tensor but received ${describe(x)}`);
  if (x.ndim !== 4) {
    throw new ShapeError(
      `${WHERE}: expected x to have 4 dimensions [N, C, H, W] but received shape ${shapeString(x.shape)}`,
    );
  }
  if (options === null || typeof options !== 'object') {
    throw new ArgumentError(
      `${WHERE}: expected options to be an object with size or scaleFactor but received ${describe(options)}`,
    );
  }
  checkOptionKeys(WHERE, options, ['size', 'scaleFactor', 'mode', 'alignCorners', 'recomputeScaleFactor']);
  const mode = checkOneOf(WHERE, 'mode', options.mode ?? 'nearest', ['nearest', 'bilinear'] as const);
  if (options.alignCorners !== undefined && typeof options.alignCorners !== 'boolean') {
    throw new ArgumentError(
      `${WHERE}: expected alignCorners to be a boolean but received ${describe(options.alignCorners)}`,
    );
  }
  if (mode === 'nearest' && options.alignCorners !== undefined) {
    throw new ArgumentError(`${WHERE}: alignCorners can only be set with mode 'bilinear' but mode is 'nearest'`);
  }
  const alignCorners = options.alignCorners ?? false;
  const hasSize = options.size !== undefined && options.size !== null;
  const hasScale = options.scaleFactor !== undefined && options.scaleFactor !== null;
  if (hasSize === hasScale) {
    throw new ArgumentError(
      `${WHERE}: expected exactly one of size and scaleFactor but received ${hasSize ? 'both' : 'neither'}`,
    );
  }
  const n = x.shape[0],
    c = x.shape[1],
    h = x.shape[2],
    w = x.shape[3];
  if (h < 1 || w < 1)
    throw new ShapeError(`${WHERE}: expected x to have non-empty planes but received shape ${shapeString(x.shape)}`);
  let outH: number, outW: number;
  let scaleH = 0,
    scaleW = 0; // 0: coordinates from the sizes
  if (hasSize) {
    const s = pairOf(options.size);
    if (s.length !== 2 || !s.every((v) => isInt(v) && v >= 1)) {
      throw new ArgumentError(
        `${WHERE}: expected size to be a positive integer or a pair of them but received ${describe(options.size)}`,
      );
    }
    [outH, outW] = s as number[];
  } else {
    const s = pairOf(options.scaleFactor);
    if (s.length !== 2 || !s.every((v) => typeof v === 'number' && Number.isFinite(v) && v > 0)) {
      throw new ArgumentError(
        `${WHERE}: expected scaleFactor to be a positive number or a pair of them but received ${describe(options.scaleFactor)}`,
      );
    }
    const [sh, sw] = s as number[];
    outH = Math.floor(h * sh);
    outW = Math.floor(w * sw);
    if (outH < 1 || outW < 1) {
      throw new ShapeError(
        `${WHERE}: scaleFactor ${describe(options.scaleFactor)} gives an empty output ${outH}x${outW} for input ${shapeString(x.shape)}`,
      );
    }
    if (!options.recomputeScaleFactor) {
      scaleH = sh;
      scaleW = sw;
    }
  }
  const y = Tensor.empty([n, c, outH, outW], { device: x.device });
  // An empty output (zero images or channels) needs no work; the kernels' per-row and
  // per-column tables would still be sized by outH and outW (a huge scale would stall there).
  if (y.numel > 0) native().interpolate2dForward(x, y, mode, alignCorners, scaleH, scaleW);
  return record(
    'interpolate',
    [x],
    y,
    (gy) => {
      const gx = Tensor.zeros(x.shape, { device: x.device });
      if (gy.numel > 0 && gx.numel > 0) native().interpolate2dBackward(gy, gx, mode, alignCorners, scaleH, scaleW);
      return [gx];
    },
    (ctx) => {
      emitResize(ctx, ctx.name(x), ctx.output, mode, alignCorners, [scaleH, scaleW], [outH, outW]);
    },
  );
}

/**
 * The ONNX Resize of x (graph name xn) into `output` (a fresh name when null); returns the
 * name. PyTorch's coordinate rules: nearest = asymmetric + floor; bilinear = half_pixel or
 * align_corners.
 */
function emitResize(
  ctx: OnnxEmitContext,
  xn: string,
  output: string | null,
  mode: InterpolateMode,
  alignCorners: boolean,
  [scaleH, scaleW]: [number, number],
  [outH, outW]: [number, number],
): string {
  const outs = output === null ? undefined : [output];
  const attrs: Record<string, string> =
    mode === 'nearest'
      ? { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' }
      : { mode: 'linear', coordinate_transformation_mode: alignCorners ? 'align_corners' : 'half_pixel' };
  // Before opset 13, roi and scales are required inputs: empty tensors when unused.
  const none = (): string => (ctx.opset < 13 ? ctx.constant([], [0]) : '');
  if (scaleH > 0) {
    // A scale factor: ONNX's output size floor(in * scale) and coordinates x / scale match PyTorch's.
    return ctx.node('Resize', [xn, none(), ctx.constant([1, 1, scaleH, scaleW], [4])], outs, attrs)[0];
  } else if (ctx.opset >= 18) {
    return ctx.node('Resize', [xn, '', '', ctx.ints([outH, outW])], outs, { ...attrs, axes: [2, 3] })[0];
  } else {
    // Sizes for all four dims: [N, C] from the input at run time (dynamicBatch-safe).
    const [shape] = ctx.node('Shape', [xn]);
    const [nc] = ctx.node('Slice', [shape, ctx.ints([0]), ctx.ints([2])]);
    const [sizes] = ctx.node('Concat', [nc, ctx.ints([outH, outW])], undefined, { axis: 0 });
    return ctx.node('Resize', [xn, none(), none(), sizes], outs, attrs)[0];
  }
}

export interface AddInterpolatedOptions {
  mode?: InterpolateMode;
  /** Only for 'bilinear' (default false). */
  alignCorners?: boolean;
}

/**
 * base + interpolate(x, { size: base's height and width, mode, alignCorners }) in one pass:
 * the upsample-and-add of feature pyramids' top-down paths and of octave convolutions'
 * low-to-high path, without the upsampled intermediate. x and base share N and C.
 */
export function addInterpolated(base: Tensor, x: Tensor, options: AddInterpolatedOptions = {}): Tensor {
  const where = 'addInterpolated';
  expectOptionsObject(where, options, '{ mode, alignCorners }');
  checkOptionKeys(where, options, ['mode', 'alignCorners']);
  for (const [name, t] of [
    ['base', base],
    ['x', x],
  ] as const) {
    if (!(t instanceof Tensor))
      throw new ArgumentError(`${where}: expected ${name} to be a Tensor but received ${describe(t)}`);
    if (t.ndim !== 4) {
      throw new ShapeError(
        `${where}: expected ${name} to have 4 dimensions [N, C, H, W] but received shape ${shapeString(t.shape)}`,
      );
    }
  }
  if (base.shape[0] !== x.shape[0] || base.shape[1] !== x.shape[1] || x.shape[2] < 1 || x.shape[3] < 1) {
    throw new ShapeError(
      `${where}: expected x of shape [${base.shape[0]}, ${base.shape[1]}, h, w] (base's N and C) but received ${shapeString(x.shape)}`,
    );
  }
  if (base.device !== x.device) throw new DeviceError(`${where}: base is on ${base.device} but x is on ${x.device}`);
  const mode = checkOneOf(where, 'mode', options.mode ?? 'nearest', ['nearest', 'bilinear'] as const);
  if (options.alignCorners !== undefined && typeof options.alignCorners !== 'boolean') {
    throw new ArgumentError(
      `${where}: expected alignCorners to be a boolean but received ${describe(options.alignCorners)}`,
    );
  }
  if (mode === 'nearest' && options.alignCorners !== undefined) {
    throw new ArgumentError(`${where}: alignCorners can only be set with mode 'bilinear' but mode is 'nearest'`);
  }
  const alignCorners = options.alignCorners ?? false;
  const [outH, outW] = [base.shape[2], base.shape[3]];
  const y = Tensor.empty(base.shape, { device: base.device });
  native().interpolate2dForward(x, y, mode, alignCorners, 0, 0, base);
  return record(
    'addInterpolated',
    [base, x],
    y,
    (gy) => {
      let gx: Tensor | null = null;
      if (x.requiresGrad) {
        gx = Tensor.empty(x.shape, { device: x.device });
        native().interpolate2dBackward(gy, gx, mode, alignCorners, 0, 0);
      }
      return [base.requiresGrad ? gy : null, gx];
    },
    (ctx) => {
      const up = emitResize(ctx, ctx.name(x), null, mode, alignCorners, [0, 0], [outH, outW]);
      ctx.node('Add', [ctx.name(base), up], [ctx.output]);
    },
  );
}
