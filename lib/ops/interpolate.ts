/**
 * F.interpolate for 4-D input, modes 'nearest' and 'bilinear', with PyTorch's coordinate
 * rules (native/math/interpolate.h): nearest takes floor(dst * in/out); bilinear maps
 * pixel centres (alignCorners false) or corner pixels (alignCorners true). With a scale
 * factor and no size, the output is floor(in * scale) and the coordinates use 1/scale, as
 * PyTorch does unless recomputeScaleFactor is set.
 */
import { record } from '../autograd';
import { checkOneOf, isInt, shapeString } from '../check';
import { ArgumentError, describe, ShapeError } from '../errors';
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
  if (!(x instanceof Tensor)) throw new ArgumentError(`${WHERE}: expected x to be a Tensor but received ${describe(x)}`);
  if (x.ndim !== 4) {
    throw new ShapeError(`${WHERE}: expected x to have 4 dimensions [N, C, H, W] but received shape ${shapeString(x.shape)}`);
  }
  if (options === null || typeof options !== 'object') {
    throw new ArgumentError(`${WHERE}: expected options to be an object with size or scaleFactor but received ${describe(options)}`);
  }
  const mode = checkOneOf(WHERE, 'mode', options.mode ?? 'nearest', ['nearest', 'bilinear'] as const);
  if (options.alignCorners !== undefined && typeof options.alignCorners !== 'boolean') {
    throw new ArgumentError(`${WHERE}: expected alignCorners to be a boolean but received ${describe(options.alignCorners)}`);
  }
  if (mode === 'nearest' && options.alignCorners !== undefined) {
    throw new ArgumentError(`${WHERE}: alignCorners can only be set with mode 'bilinear' but mode is 'nearest'`);
  }
  const alignCorners = options.alignCorners ?? false;
  const hasSize = options.size !== undefined && options.size !== null;
  const hasScale = options.scaleFactor !== undefined && options.scaleFactor !== null;
  if (hasSize === hasScale) {
    throw new ArgumentError(`${WHERE}: expected exactly one of size and scaleFactor but received ${hasSize ? 'both' : 'neither'}`);
  }
  const [n, c, h, w] = x.shape;
  if (h < 1 || w < 1) throw new ShapeError(`${WHERE}: expected x to have non-empty planes but received shape ${shapeString(x.shape)}`);
  let outH: number, outW: number;
  let scaleH = 0, scaleW = 0; // 0: coordinates from the sizes
  if (hasSize) {
    const s = pairOf(options.size);
    if (s.length !== 2 || !s.every((v) => isInt(v) && v >= 1)) {
      throw new ArgumentError(`${WHERE}: expected size to be a positive integer or a pair of them but received ${describe(options.size)}`);
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
      throw new ShapeError(`${WHERE}: scaleFactor ${describe(options.scaleFactor)} gives an empty output ${outH}x${outW} for input ${shapeString(x.shape)}`);
    }
    if (!options.recomputeScaleFactor) {
      scaleH = sh;
      scaleW = sw;
    }
  }
  const y = Tensor.empty([n, c, outH, outW], { device: x.device });
  native().interpolate2dForward(x, y, mode, alignCorners, scaleH, scaleW);
  return record('interpolate', [x], y, (gy) => {
    const gx = Tensor.empty(x.shape, { device: x.device });
    native().interpolate2dBackward(gy, gx, mode, alignCorners, scaleH, scaleW);
    return [gx];
  }, (ctx) => {
    // PyTorch's coordinate rules: nearest = asymmetric + floor; bilinear = half_pixel or align_corners.
    const attrs: Record<string, string> =
      mode === 'nearest'
        ? { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' }
        : { mode: 'linear', coordinate_transformation_mode: alignCorners ? 'align_corners' : 'half_pixel' };
    const xn = ctx.name(x);
    // Before opset 13, roi and scales are required inputs: empty tensors when unused.
    const none = (): string => (ctx.opset < 13 ? ctx.constant([], [0]) : '');
    if (scaleH > 0) {
      // A scale factor: ONNX's output size floor(in * scale) and coordinates x / scale match PyTorch's.
      ctx.node('Resize', [xn, none(), ctx.constant([1, 1, scaleH, scaleW], [4])], [ctx.output], attrs);
    } else if (ctx.opset >= 18) {
      ctx.node('Resize', [xn, '', '', ctx.ints([outH, outW])], [ctx.output], { ...attrs, axes: [2, 3] });
    } else {
      // Sizes for all four dims: [N, C] from the input at run time (dynamicBatch-safe).
      const [shape] = ctx.node('Shape', [xn]);
      const [nc] = ctx.node('Slice', [shape, ctx.ints([0]), ctx.ints([2])]);
      const [sizes] = ctx.node('Concat', [nc, ctx.ints([outH, outW])], undefined, { axis: 0 });
      ctx.node('Resize', [xn, none(), none(), sizes], [ctx.output], attrs);
    }
  });
}
