/**
 * Deformable convolution (DCNv1, and DCNv2 with a modulation mask), torchvision's
 * `deform_conv2d` semantics and layout:
 *
 *   input  (N, C, H, W)
 *   offset (N, 2 * offsetGroups * kh * kw, Ho, Wo): channel g*2*kh*kw + 2*(i*kw + j) is dy
 *          and the next one dx for kernel tap (i, j) of offset group g
 *   weight (O, C / groups, kh, kw);   bias (O);   mask (N, offsetGroups * kh * kw, Ho, Wo)
 *
 * groups = C / weight.shape[1] and offsetGroups = offset.shape[1] / (2*kh*kw), inferred as
 * torchvision does. The mask is a plain multiplier (apply sigmoid yourself, as DCNv2 does).
 * Sampling follows the torchvision / ONNX DeformConv boundary rule (see
 * native/math/bilinear.h). Non-finite offsets (NaN, ±Infinity) are treated as pointing
 * outside the image: such a point samples 0 and gets zero gradients for its offset and mask;
 * huge finite offsets likewise sample 0. Nothing is ever read out of bounds.
 *
 * Gradients: input, offset, mask, weight, bias. The CPU backward is deterministic
 * (bit-identical at any thread count); on CUDA, `deterministic: false` selects the faster
 * atomicAdd scatter for the input gradient.
 */
import { record } from '../autograd';
import { checkOptionKeys, checkPair, shapeString } from '../check';
import { ArgumentError, describe, DeviceError, ShapeError } from '../errors';
import { native } from '../native';
import { Tensor } from '../tensor';

export interface DeformConv2dOptions {
  bias?: Tensor | null;
  mask?: Tensor | null;
  stride?: number | [number, number];
  padding?: number | [number, number];
  dilation?: number | [number, number];
  /** CUDA only: gather the input gradient deterministically (default true). */
  deterministic?: boolean;
}

/** The shapes one call implies, after every check has passed. */
export interface DeformConv2dGeometry {
  batch: number;
  inChannels: number;
  outChannels: number;
  kernel: [number, number];
  outSize: [number, number];
  groups: number;
  offsetGroups: number;
  stride: [number, number];
  padding: [number, number];
  dilation: [number, number];
}

const FN = 'deformConv2d';

function expectTensor(name: string, t: unknown, ndim: number): Tensor {
  if (!(t instanceof Tensor))
    throw new ArgumentError(`${FN}: expected ${name} to be a Tensor but received ${describe(t)}`);
  if (t.ndim !== ndim) {
    throw new ShapeError(`${FN}: expected ${name} to be ${ndim}-D but received shape ${shapeString(t.shape)}`);
  }
  return t;
}

function expectShapeNamed(name: string, t: Tensor, expected: number[], layout: string): void {
  if (t.shape.length !== expected.length || t.shape.some((d, i) => d !== expected[i])) {
    throw new ShapeError(
      `${FN}: expected ${name} of shape ${shapeString(expected)} (${layout}) but received ${shapeString(t.shape)}`,
    );
  }
}

/** Checks every argument of deformConv2d and returns the geometry (exported for the layers). */
export function deformConv2dGeometry(
  input: Tensor,
  offset: Tensor,
  weight: Tensor,
  options: DeformConv2dOptions = {},
): DeformConv2dGeometry {
  if (options === null || typeof options !== 'object') {
    throw new ArgumentError(`${FN}: expected options to be an object but received ${describe(options)}`);
  }
  checkOptionKeys(FN, options, ['bias', 'mask', 'stride', 'padding', 'dilation', 'deterministic']);
  expectTensor('input', input, 4);
  expectTensor('offset', offset, 4);
  expectTensor('weight', weight, 4);
  const mask = options.mask ?? null;
  const bias = options.bias ?? null;
  if (mask !== null) expectTensor('mask', mask, 4);
  if (bias !== null) expectTensor('bias', bias, 1);
  const stride = checkPair(FN, 'stride', options.stride ?? 1, 1);
  const padding = checkPair(FN, 'padding', options.padding ?? 0, 0);
  const dilation = checkPair(FN, 'dilation', options.dilation ?? 1, 1);
  if (options.deterministic !== undefined && typeof options.deterministic !== 'boolean') {
    throw new ArgumentError(
      `${FN}: expected deterministic to be a boolean but received ${describe(options.deterministic)}`,
    );
  }
  for (const [name, t] of [
    ['offset', offset],
    ['weight', weight],
    ['mask', mask],
    ['bias', bias],
  ] as const) {
    if (t && t.device !== input.device) {
      throw new DeviceError(`${FN}: expected ${name} to be on ${input.device} like input but it is on ${t.device}`);
    }
  }
  const [N, C, H, W] = input.shape;
  const [O, Cg, kh, kw] = weight.shape;
  if (O === 0 || Cg === 0 || kh === 0 || kw === 0) {
    throw new ShapeError(
      `${FN}: expected weight (out, in/groups, kh, kw) without empty dimensions but received ${shapeString(weight.shape)}`,
    );
  }
  if (C % Cg !== 0) {
    throw new ShapeError(
      `${FN}: expected input channels (${C}) to be divisible by weight.shape[1] (${Cg}, the channels per group) but input has shape ${shapeString(input.shape)} and weight ${shapeString(weight.shape)}`,
    );
  }
  const groups = C / Cg;
  if (O % groups !== 0) {
    throw new ShapeError(
      `${FN}: expected weight.shape[0] (${O} output channels) to be divisible by groups = ${groups} (input channels ${C} / weight.shape[1] ${Cg})`,
    );
  }
  const effH = dilation[0] * (kh - 1) + 1,
    effW = dilation[1] * (kw - 1) + 1;
  if (H + 2 * padding[0] < effH || W + 2 * padding[1] < effW) {
    throw new ShapeError(
      `${FN}: the padded input (${H + 2 * padding[0]}x${W + 2 * padding[1]}) is smaller than the dilated kernel (${effH}x${effW})`,
    );
  }
  const Ho = Math.floor((H + 2 * padding[0] - effH) / stride[0]) + 1;
  const Wo = Math.floor((W + 2 * padding[1] - effW) / stride[1]) + 1;
  const taps = kh * kw;
  const offC = offset.shape[1];
  if (offC === 0 || offC % (2 * taps) !== 0) {
    throw new ShapeError(
      `${FN}: expected offset to have 2*offsetGroups*kh*kw channels (a positive multiple of 2*${kh}*${kw} = ${2 * taps}) but received shape ${shapeString(offset.shape)}`,
    );
  }
  const offsetGroups = offC / (2 * taps);
  if (C % offsetGroups !== 0) {
    throw new ShapeError(
      `${FN}: expected input channels (${C}) to be divisible by offsetGroups = ${offsetGroups} (offset channels ${offC} / (2*${kh}*${kw}))`,
    );
  }
  expectShapeNamed('offset', offset, [N, offC, Ho, Wo], `N, 2*offsetGroups*kh*kw, outH, outW`);
  if (mask) expectShapeNamed('mask', mask, [N, offsetGroups * taps, Ho, Wo], `N, offsetGroups*kh*kw, outH, outW`);
  if (bias) expectShapeNamed('bias', bias, [O], 'out channels');
  return {
    batch: N,
    inChannels: C,
    outChannels: O,
    kernel: [kh, kw],
    outSize: [Ho, Wo],
    groups,
    offsetGroups,
    stride,
    padding,
    dilation,
  };
}

function params(g: DeformConv2dGeometry): number[] {
  return [g.stride[0], g.stride[1], g.padding[0], g.padding[1], g.dilation[0], g.dilation[1]];
}

/** Deformable 2-D convolution; see the file comment for layouts and semantics. */
export function deformConv2d(input: Tensor, offset: Tensor, weight: Tensor, options: DeformConv2dOptions = {}): Tensor {
  const g = deformConv2dGeometry(input, offset, weight, options);
  const mask = options.mask ?? null;
  const bias = options.bias ?? null;
  const deterministic = options.deterministic ?? true;
  const out = Tensor.empty([g.batch, g.outChannels, g.outSize[0], g.outSize[1]], { device: input.device });
  native().deformConv2d(input, offset, mask, weight, bias, out, params(g));
  return record(
    'deformConv2d',
    [input, offset, weight, mask, bias],
    out,
    (gradOut) => {
      const want = (t: Tensor | null) => (t && t.requiresGrad ? Tensor.empty(t.shape, { device: input.device }) : null);
      const gInput = want(input),
        gOffset = want(offset),
        gWeight = want(weight),
        gMask = want(mask),
        gBias = want(bias);
      native().deformConv2dBackward(
        input,
        offset,
        mask,
        weight,
        gradOut,
        gInput,
        gOffset,
        gMask,
        gWeight,
        gBias,
        params(g),
        deterministic,
      );
      return [gInput, gOffset, gWeight, gMask, gBias];
    },
    (ctx) => {
      if (ctx.opset < 19) {
        ctx.fail(
          `DeformConv needs ONNX opset 19 or later (the minimum opset is 19) but the export uses opset ${ctx.opset}; pass { opset: 19 }`,
        );
      }
      const names = [ctx.name(input), ctx.name(weight), ctx.name(offset), ctx.name(bias), ctx.name(mask)];
      while (names[names.length - 1] === '') names.pop();
      ctx.node('DeformConv', names, [ctx.output], {
        kernel_shape: g.kernel,
        strides: g.stride,
        pads: [g.padding[0], g.padding[1], g.padding[0], g.padding[1]],
        dilations: g.dilation,
        group: g.groups,
        offset_group: g.offsetGroups,
      });
    },
  );
}
