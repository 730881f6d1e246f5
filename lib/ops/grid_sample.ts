/**
 * F.grid_sample for 4-D input: samples input [N, C, H, W] at the points of grid
 * [N, Hout, Wout, 2] (x then y, normalised to [-1, 1]) with PyTorch's unnormalisation,
 * padding modes and rounding; gradients for input and grid. The coordinate math is shared
 * with the CUDA kernel (native/math/grid_sample.h).
 */
import { record } from '../autograd';
import { checkOneOf, checkOptionKeys, expectOptionsObject, shapeString } from '../check';
import { ArgumentError, DeviceError, describe, ShapeError } from '../errors';
import { native } from '../native';
import { Tensor } from '../tensor';

export type GridSampleMode = 'bilinear' | 'nearest';
export type GridSamplePadding = 'zeros' | 'border' | 'reflection';

export interface GridSampleOptions {
  mode?: GridSampleMode;
  paddingMode?: GridSamplePadding;
  /** -1 and 1 are the centres of the corner pixels (true) or their outer edges (false, default). */
  alignCorners?: boolean;
}

const WHERE = 'gridSample';

export function gridSample(input: Tensor, grid: Tensor, options: GridSampleOptions = {}): Tensor {
  if (!(input instanceof Tensor))
    throw new ArgumentError(`${WHERE}: expected input to be a Tensor but received ${describe(input)}`);
  checkOptionKeys(WHERE, options, ['mode', 'paddingMode', 'alignCorners']);
  if (!(grid instanceof Tensor))
    throw new ArgumentError(`${WHERE}: expected grid to be a Tensor but received ${describe(grid)}`);
  if (input.ndim !== 4) {
    throw new ShapeError(
      `${WHERE}: expected input to have 4 dimensions [N, C, H, W] but received shape ${shapeString(input.shape)}`,
    );
  }
  const [n, c, h, w] = input.shape;
  if (grid.ndim !== 4 || grid.shape[0] !== n || grid.shape[3] !== 2) {
    throw new ShapeError(
      `${WHERE}: expected grid of shape [${n}, Hout, Wout, 2] but received ${shapeString(grid.shape)}`,
    );
  }
  if (h < 1 || w < 1)
    throw new ShapeError(
      `${WHERE}: expected input to have non-empty planes but received shape ${shapeString(input.shape)}`,
    );
  if (grid.device !== input.device)
    throw new DeviceError(`${WHERE}: input is on ${input.device} but grid is on ${grid.device}`);
  expectOptionsObject(WHERE, options);
  const mode = checkOneOf(WHERE, 'mode', options.mode ?? 'bilinear', ['bilinear', 'nearest'] as const);
  const paddingMode = checkOneOf(WHERE, 'paddingMode', options.paddingMode ?? 'zeros', [
    'zeros',
    'border',
    'reflection',
  ] as const);
  const alignCorners = options.alignCorners ?? false;
  if (typeof alignCorners !== 'boolean') {
    throw new ArgumentError(`${WHERE}: expected alignCorners to be a boolean but received ${describe(alignCorners)}`);
  }
  const out = Tensor.empty([n, c, grid.shape[1], grid.shape[2]], { device: input.device });
  native().gridSample2dForward(input, grid, out, mode, paddingMode, alignCorners);
  return record(
    'gridSample',
    [input, grid],
    out,
    (g) => {
      const gi = input.requiresGrad ? Tensor.empty(input.shape, { device: input.device }) : null;
      const gg = grid.requiresGrad ? Tensor.empty(grid.shape, { device: input.device }) : null;
      native().gridSample2dBackward(g, input, grid, gi, gg, mode, paddingMode, alignCorners);
      return [gi, gg];
    },
    (ctx) => {
      if (ctx.opset < 16) ctx.fail(`GridSample needs opset 16 or later but the export uses opset ${ctx.opset}`);
      // Opset 20 renamed the 'bilinear' mode to 'linear'.
      const onnxMode = mode === 'bilinear' && ctx.opset >= 20 ? 'linear' : mode;
      ctx.node('GridSample', [ctx.name(input), ctx.name(grid)], [ctx.output], {
        mode: onnxMode,
        padding_mode: paddingMode,
        align_corners: alignCorners ? 1 : 0,
      });
    },
  );
}
