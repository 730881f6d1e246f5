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
import { checkOptionKeys, checkPair, expectOptionsObject } from '../check';
import { ArgumentError, describe, DeviceError } from '../errors';
import { native } from '../native';
import type { NativeApi, WindowOptions } from '../native_api';
import { Tensor } from '../tensor';
import { applyEpilogue, canRunFused, checkEpilogue, EPILOGUE_KEYS, type EpilogueOptions } from './epilogue';
import { checkPackedWeight, type PackedConv2dWeight } from './packed_weight';
import { sameShape } from './validate';

export interface DeformConv2dOptions {
  bias?: Tensor | null;
  mask?: Tensor | null;
  stride?: number | [number, number];
  padding?: number | [number, number];
  dilation?: number | [number, number];
  /** CUDA only: gather the input gradient deterministically (default true). */
  deterministic?: boolean;
  /**
   * CPU only: `weight` already packed by packDeformConv2dWeight, used by the forward instead of
   * packing `weight` again (inference; lib/nn/fold.ts). Pass the weight it was packed from: the
   * gradients read `weight` itself.
   */
  packed?: PackedConv2dWeight | null;
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

function expectTensor(where: string, name: string, t: unknown): Tensor {
  if (!(t instanceof Tensor)) {
    throw new ArgumentError(`${where}: expected ${name} to be a Tensor but received ${describe(t)}`);
  }
  return t;
}

function expectDeviceOf(where: string, name: string, t: Tensor | null, input: Tensor): void {
  if (t && t.device !== input.device) {
    throw new DeviceError(`${where}: expected ${name} to be on ${input.device} like input but it is on ${t.device}`);
  }
}

/**
 * Checks every argument of deformConv2d and returns the geometry (exported for the layers).
 * The shape rules are the op's native contract (native/ops/deform_conv2d.cc, the same code the
 * kernels' binding runs), so they and their messages are written once; this adds what only
 * TypeScript sees: argument types, option keys and values, devices.
 */
export function deformConv2dGeometry(
  input: Tensor,
  offset: Tensor,
  weight: Tensor,
  options: DeformConv2dOptions = {},
): DeformConv2dGeometry {
  return checkArguments(FN, input, offset, weight, options, OPTION_KEYS);
}

const OPTION_KEYS = ['bias', 'mask', 'stride', 'padding', 'dilation', 'deterministic', 'packed'] as const;
const FUSED_OPTION_KEYS = [...OPTION_KEYS, ...EPILOGUE_KEYS] as const;

function checkArguments(
  where: string,
  input: Tensor,
  offset: Tensor,
  weight: Tensor,
  options: DeformConv2dOptions,
  keys: readonly string[],
): DeformConv2dGeometry {
  expectOptionsObject(where, options);
  checkOptionKeys(where, options, keys);
  expectTensor(where, 'input', input);
  expectTensor(where, 'offset', offset);
  expectTensor(where, 'weight', weight);
  const mask = options.mask ?? null;
  const bias = options.bias ?? null;
  if (mask !== null) expectTensor(where, 'mask', mask);
  if (bias !== null) expectTensor(where, 'bias', bias);
  const stride = checkPair(where, 'stride', options.stride ?? 1, 1);
  const padding = checkPair(where, 'padding', options.padding ?? 0, 0);
  const dilation = checkPair(where, 'dilation', options.dilation ?? 1, 1);
  if (options.deterministic !== undefined && typeof options.deterministic !== 'boolean') {
    throw new ArgumentError(
      `${where}: expected deterministic to be a boolean but received ${describe(options.deterministic)}`,
    );
  }
  expectDeviceOf(where, 'offset', offset, input);
  expectDeviceOf(where, 'weight', weight, input);
  expectDeviceOf(where, 'mask', mask, input);
  expectDeviceOf(where, 'bias', bias, input);
  const g = shapeContract(input, offset, weight, mask, bias, { stride, padding, dilation });
  return {
    batch: input.shape[0],
    inChannels: input.shape[1],
    outChannels: weight.shape[0],
    kernel: [weight.shape[2], weight.shape[3]],
    outSize: [g.outH, g.outW],
    groups: g.groups,
    offsetGroups: g.offsetGroups,
    stride,
    padding,
    dilation,
  };
}

type ContractResult = ReturnType<NativeApi['deformConv2dGeometry']>;

// The native shape contract's answers for the shapes seen lately: a network calls the op with
// the same few shapes at every forward, and the answer depends on the shapes and window alone
// (inputs that fail the contract throw and are never stored). Found by comparing the numbers
// themselves: a string key made of the shapes cost a few array joins on every call.
interface KnownContract {
  numbers: number[];
  answer: ContractResult;
}
const knownContracts: KnownContract[] = [];
const CONTRACTS_KEPT = 64;
const probe: number[] = [];

function shapeContract(
  input: Tensor,
  offset: Tensor,
  weight: Tensor,
  mask: Tensor | null,
  bias: Tensor | null,
  window: WindowOptions,
): ContractResult {
  probe.length = 0;
  pushShape(probe, input.shape);
  pushShape(probe, offset.shape);
  pushShape(probe, weight.shape);
  pushShape(probe, mask?.shape ?? null);
  pushShape(probe, bias?.shape ?? null);
  const { stride, padding, dilation } = window;
  probe.push(stride[0], stride[1], padding[0], padding[1], dilation[0], dilation[1]);
  for (let k = 0; k < knownContracts.length; k++) {
    if (sameShape(knownContracts[k].numbers, probe)) return knownContracts[k].answer;
  }
  const answer = native().deformConv2dGeometry(
    input.shape,
    offset.shape,
    weight.shape,
    mask?.shape ?? null,
    bias?.shape ?? null,
    window,
  );
  if (knownContracts.length >= CONTRACTS_KEPT) knownContracts.shift();
  knownContracts.push({ numbers: probe.slice(), answer });
  return answer;
}

/** A shape's rank, then its dimensions (-1 for an absent tensor), so no two shapes read alike. */
function pushShape(into: number[], shape: readonly number[] | null): void {
  if (!shape) {
    into.push(-1);
    return;
  }
  into.push(shape.length);
  for (let d = 0; d < shape.length; d++) into.push(shape[d]);
}

/** The window options of the native calls. */
function windowOf(g: DeformConv2dGeometry): WindowOptions {
  return { stride: g.stride, padding: g.padding, dilation: g.dilation };
}

/** Deformable 2-D convolution; see the file comment for layouts and semantics. */
export function deformConv2d(input: Tensor, offset: Tensor, weight: Tensor, options: DeformConv2dOptions = {}): Tensor {
  const g = deformConv2dGeometry(input, offset, weight, options);
  const mask = options.mask ?? null;
  const bias = options.bias ?? null;
  const deterministic = options.deterministic ?? true;
  const packed = checkPackedWeight(FN, 'deformConv2d', options.packed, weight, g.groups);
  const out = Tensor.empty([g.batch, g.outChannels, g.outSize[0], g.outSize[1]], { device: input.device });
  native().deformConv2d(input, offset, mask, weight, bias, out, windowOf(g), packed?.handle ?? null);
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
      native().deformConv2dBackward(input, offset, mask, weight, gradOut, gInput, gOffset, gMask, gWeight, gBias, {
        ...windowOf(g),
        deterministic,
      });
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

export interface DeformConv2dFusedOptions extends DeformConv2dOptions, EpilogueOptions {}

/**
 * relu?(deformConv2d(input, offset, weight, options) + residual?) for inference: on the CPU,
 * outside autograd and ONNX tracing, one native call that adds the residual and applies ReLU
 * while it writes each image's output (lib/nn/fold.ts runs deformable ResNet blocks this way).
 * Elsewhere the same result from deformConv2d, add and relu, with their gradients and ONNX forms.
 */
export function deformConv2dFused(
  input: Tensor,
  offset: Tensor,
  weight: Tensor,
  options: DeformConv2dFusedOptions = {},
): Tensor {
  const where = 'deformConv2dFused';
  const g = checkArguments(where, input, offset, weight, options, FUSED_OPTION_KEYS);
  const outShape = [g.batch, g.outChannels, g.outSize[0], g.outSize[1]];
  const epilogue = checkEpilogue(where, options, outShape, input.device);
  const mask = options.mask ?? null;
  const bias = options.bias ?? null;
  if (!canRunFused(input.device, [input, offset, weight, mask, bias, epilogue.residual])) {
    const { residual: _r, relu: _relu, ...plain } = options;
    return applyEpilogue(deformConv2d(input, offset, weight, plain), epilogue);
  }
  const packed = checkPackedWeight(where, 'deformConv2d', options.packed, weight, g.groups);
  const out = Tensor.empty(outShape, { device: input.device });
  native().deformConv2d(
    input,
    offset,
    mask,
    weight,
    bias,
    out,
    windowOf(g),
    packed?.handle ?? null,
    epilogue.residual,
    epilogue.relu,
  );
  return out;
}
