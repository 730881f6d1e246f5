/**
 * 2-D convolution and transposed convolution (NCHW), PyTorch semantics and argument order.
 *
 * conv_transpose2d is the adjoint of conv2d, so the two share three native kernels:
 *   conv2d forward            = conv2d             convTranspose2d forward    = conv2dBackwardInput
 *   conv2d grad input         = conv2dBackwardInput convTranspose2d grad input = conv2d
 *   conv2d grad weight        = conv2dBackwardWeight(gradOut, input)
 *   convTranspose2d grad weight = conv2dBackwardWeight(input, gradOut)   (roles swapped)
 * and the bias gradient is a per-channel sum of the output gradient in both.
 */
import { record } from '../autograd';
import { applyEpilogue, canRunFused, checkEpilogue, EPILOGUE_KEYS, type EpilogueOptions } from './epilogue';
import { checkNonEmptyImage } from './validate';
import { checkInt, checkOptionKeys, checkPair, expectOptionsObject, shapeString } from '../check';
import { ArgumentError, DeviceError, describe, ShapeError } from '../errors';
import { native } from '../native';
import { onnxPads } from '../onnx/trace';
import { Tensor } from '../tensor';
import { checkPackedWeight, type PackedConv2dWeight } from './packed_weight';

type Pair = number | [number, number];

export interface Conv2dOptions {
  bias?: Tensor | null;
  stride?: Pair;
  /** A number, an [h, w] pair, 'valid' (0) or 'same' (stride 1, odd effective kernel only). */
  padding?: Pair | 'valid' | 'same';
  dilation?: Pair;
  groups?: number;
}

export interface ConvTranspose2dOptions {
  bias?: Tensor | null;
  stride?: Pair;
  padding?: Pair;
  outputPadding?: Pair;
  groups?: number;
  dilation?: Pair;
}

interface ConvParams {
  stride: [number, number];
  padding: [number, number];
  dilation: [number, number];
  groups: number;
}

function checkTensor(where: string, name: string, t: unknown, ndim: number, layout: string): Tensor {
  if (!(t instanceof Tensor)) {
    throw new ArgumentError(`${where}: expected ${name} to be a Tensor but received ${describe(t)}`);
  }
  if (t.ndim !== ndim) {
    throw new ShapeError(
      `${where}: expected ${name} to be a ${ndim}-D tensor ${layout} but received shape ${shapeString(t.shape)}`,
    );
  }
  return t;
}

function checkBias(where: string, bias: unknown, channels: number, device: string): Tensor | null {
  if (bias === undefined || bias === null) return null;
  const b = checkTensor(where, 'bias', bias, 1, `[${channels}]`);
  if (b.shape[0] !== channels) {
    throw new ShapeError(
      `${where}: expected bias of shape [${channels}] (one per output channel) but received ${shapeString(b.shape)}`,
    );
  }
  if (b.device !== device) throw new DeviceError(`${where}: input is on ${device} but bias is on ${b.device}`);
  return b;
}

const CONV2D_KEYS = ['bias', 'stride', 'padding', 'dilation', 'groups'] as const;
const CONV_TRANSPOSE2D_KEYS = [...CONV2D_KEYS, 'outputPadding'] as const;
const CONV2D_FUSED_KEYS = [...CONV2D_KEYS, ...EPILOGUE_KEYS, 'packed'] as const;

/**
 * @internal (also dynamicConv2d's) A convolution's options: an object, and not a Tensor (a bias
 * passed one argument late).
 */
export function checkConvOptionsObject(where: string, options: unknown): void {
  expectOptionsObject(where, options, '{ stride, padding }', options instanceof Tensor);
}

function checkGroups(where: string, groups: number, inChannels: number, outChannels: number): void {
  if (inChannels % groups !== 0) {
    throw new ShapeError(
      `${where}: expected groups (${groups}) to divide the input channels but received ${inChannels} input channels`,
    );
  }
  if (outChannels % groups !== 0) {
    throw new ShapeError(
      `${where}: expected groups (${groups}) to divide the output channels but received ${outChannels} output channels`,
    );
  }
}

function outSize(inSize: number, k: number, s: number, p: number, d: number): number {
  return Math.floor((inSize + 2 * p - d * (k - 1) - 1) / s) + 1;
}

interface PreparedConv2d {
  bias: Tensor | null;
  params: ConvParams;
  outShape: [number, number, number, number];
  kernel: [number, number];
}

/** Checks conv2d's arguments (messages users read) and works out the output geometry. */
function prepareConv2d(
  where: string,
  input: Tensor,
  weight: Tensor,
  options: Conv2dOptions,
  keys: readonly string[],
): PreparedConv2d {
  checkTensor(where, 'input', input, 4, '[N, C, H, W]');
  checkTensor(where, 'weight', weight, 4, '[outChannels, inChannels / groups, kH, kW]');
  checkConvOptionsObject(where, options);
  checkOptionKeys(where, options, keys);
  checkNonEmptyImage(where, 'input', input, true);
  if (weight.device !== input.device)
    throw new DeviceError(`${where}: input is on ${input.device} but weight is on ${weight.device}`);
  // Indexed reads, not destructuring: an iterator per read on every call of a hot path.
  const N = input.shape[0],
    C = input.shape[1],
    H = input.shape[2],
    W = input.shape[3];
  const O = weight.shape[0],
    Cg = weight.shape[1],
    kh = weight.shape[2],
    kw = weight.shape[3];
  const groups = checkInt(where, 'groups', options.groups ?? 1, 1);
  const stride = checkPair(where, 'stride', options.stride ?? 1, 1);
  const dilation = checkPair(where, 'dilation', options.dilation ?? 1, 1);
  let padding: [number, number];
  const pad = options.padding ?? 0;
  if (pad === 'valid') {
    padding = [0, 0];
  } else if (pad === 'same') {
    const total = [dilation[0] * (kh - 1), dilation[1] * (kw - 1)];
    if (stride[0] !== 1 || stride[1] !== 1 || total[0] % 2 !== 0 || total[1] % 2 !== 0) {
      throw new ArgumentError(
        `${where}: padding 'same' needs stride 1 and an odd effective kernel size but received stride ${shapeString(stride)} and kernel ${kh}x${kw} with dilation ${shapeString(dilation)}`,
      );
    }
    padding = [total[0] / 2, total[1] / 2];
  } else {
    padding = checkPair(where, 'padding', pad, 0);
  }
  checkGroups(where, groups, C, O);
  if (Cg * groups !== C) {
    throw new ShapeError(
      `${where}: expected input to have ${Cg * groups} channels (weight ${shapeString(weight.shape)} with groups ${groups}) but received ${C} channels (input shape ${shapeString(input.shape)})`,
    );
  }
  const bias = checkBias(where, options.bias, O, input.device);
  const OH = outSize(H, kh, stride[0], padding[0], dilation[0]);
  const OW = outSize(W, kw, stride[1], padding[1], dilation[1]);
  if (OH < 1 || OW < 1 || kh < 1 || kw < 1) {
    throw new ShapeError(
      `${where}: the kernel ${kh}x${kw} (dilation ${shapeString(dilation)}) is larger than the padded input ${H + 2 * padding[0]}x${W + 2 * padding[1]} (input ${H}x${W}, padding ${shapeString(padding)})`,
    );
  }
  return { bias, params: { stride, padding, dilation, groups }, outShape: [N, O, OH, OW], kernel: [kh, kw] };
}

/** y = conv2d(input [N, C, H, W], weight [O, C/groups, kh, kw]) + bias [O]. */
export function conv2d(input: Tensor, weight: Tensor, options: Conv2dOptions = {}): Tensor {
  const { bias, params, outShape, kernel } = prepareConv2d('conv2d', input, weight, options, CONV2D_KEYS);
  const { stride, padding, dilation, groups } = params;
  const out = Tensor.empty(outShape, { device: input.device });
  native().conv2d(input, weight, bias, out, params);
  return record(
    'conv2d',
    [input, weight, bias],
    out,
    (g) => [
      input.requiresGrad ? conv2dGradInput(g, weight, input.shape, params) : null,
      weight.requiresGrad ? conv2dGradWeight(g, input, weight.shape, params) : null,
      bias?.requiresGrad ? channelSums(g) : null,
    ],
    {
      type: 'Conv',
      inputs: [input, weight, bias],
      attrs: { kernel_shape: kernel, strides: stride, pads: onnxPads(padding), dilations: dilation, group: groups },
    },
  );
}

export { PackedConv2dWeight, packConv2dWeight, packDeformConv2dWeight } from './packed_weight';

export interface Conv2dFusedOptions extends Conv2dOptions, EpilogueOptions {
  /**
   * `weight` already packed by packConv2dWeight, used by the CPU GEMM paths instead of packing
   * `weight` again (the direct paths, depthwise and few-output kn2row, read `weight`): pass the
   * weight it was packed from.
   */
  packed?: PackedConv2dWeight | null;
}

/**
 * relu?(conv2d(input, weight, bias) + residual?) for inference: on the CPU, outside autograd
 * and ONNX tracing, one native call that adds the residual and applies ReLU while it writes
 * each image's output (no extra passes over memory). Elsewhere (CUDA, gradients needed, a
 * trace running) the same result from conv2d, add and relu, with their gradients and ONNX
 * forms.
 */
export function conv2dFused(input: Tensor, weight: Tensor, options: Conv2dFusedOptions = {}): Tensor {
  const where = 'conv2dFused';
  const { bias, params, outShape } = prepareConv2d(where, input, weight, options, CONV2D_FUSED_KEYS);
  const packed = checkPackedWeight(where, 'conv2d', options.packed, weight, params.groups);
  const epilogue = checkEpilogue(where, options, outShape, input.device);
  if (!canRunFused(input.device, [input, weight, bias, epilogue.residual])) {
    const { stride, padding, dilation, groups } = params;
    return applyEpilogue(conv2d(input, weight, { bias, stride, padding, dilation, groups }), epilogue);
  }
  const out = Tensor.empty(outShape, { device: input.device });
  native().conv2d(input, weight, bias, out, params, epilogue.residual, epilogue.relu, packed?.handle ?? null);
  return out;
}

function conv2dGradInput(g: Tensor, weight: Tensor, shape: readonly number[], p: ConvParams): Tensor {
  const gi = Tensor.empty(shape, { device: g.device });
  native().conv2dBackwardInput(g, weight, gi, p);
  return gi;
}

function conv2dGradWeight(g: Tensor, input: Tensor, shape: readonly number[], p: ConvParams): Tensor {
  const gw = Tensor.empty(shape, { device: g.device });
  native().conv2dBackwardWeight(g, input, gw, p);
  return gw;
}

/** Sum over every dimension but 1: the gradient of a per-channel bias. */
export function channelSums(g: Tensor): Tensor {
  if (!(g instanceof Tensor) || g.isDisposed) {
    throw new ArgumentError(`channelSums: expected g to be a live Tensor but received ${describe(g)}`);
  }
  if (g.ndim < 2) {
    throw new ShapeError(
      `channelSums: expected g to have at least 2 dimensions [N, C, ...] but received shape ${shapeString(g.shape)}`,
    );
  }
  const s = Tensor.empty([g.shape[1]], { device: g.device });
  native().channelSums(g, s);
  return s;
}

/**
 * Transposed convolution: input [N, Cin, H, W], weight [Cin, Cout / groups, kh, kw] (PyTorch
 * layout), output [N, Cout, (H-1)*stride - 2*padding + dilation*(kh-1) + outputPadding + 1, ...].
 */
export function convTranspose2d(input: Tensor, weight: Tensor, options: ConvTranspose2dOptions = {}): Tensor {
  const where = 'convTranspose2d';
  checkTensor(where, 'input', input, 4, '[N, C, H, W]');
  checkTensor(where, 'weight', weight, 4, '[inChannels, outChannels / groups, kH, kW]');
  checkConvOptionsObject(where, options);
  checkOptionKeys(where, options, CONV_TRANSPOSE2D_KEYS);
  if (weight.device !== input.device)
    throw new DeviceError(`${where}: input is on ${input.device} but weight is on ${weight.device}`);
  const [N, C, H, W] = input.shape;
  const [Cw, Og, kh, kw] = weight.shape;
  const groups = checkInt(where, 'groups', options.groups ?? 1, 1);
  const stride = checkPair(where, 'stride', options.stride ?? 1, 1);
  const padding = checkPair(where, 'padding', options.padding ?? 0, 0);
  const dilation = checkPair(where, 'dilation', options.dilation ?? 1, 1);
  const outputPadding = checkPair(where, 'outputPadding', options.outputPadding ?? 0, 0);
  if (Cw !== C) {
    throw new ShapeError(
      `${where}: expected input to have ${Cw} channels (weight.shape[0] of weight ${shapeString(weight.shape)}) but received ${C} channels (input shape ${shapeString(input.shape)})`,
    );
  }
  const O = Og * groups;
  checkGroups(where, groups, C, O);
  for (let a = 0; a < 2; a++) {
    if (outputPadding[a] >= stride[a] && outputPadding[a] >= dilation[a]) {
      throw new ArgumentError(
        `${where}: expected outputPadding to be smaller than stride or dilation but received outputPadding ${shapeString(outputPadding)}, stride ${shapeString(stride)}, dilation ${shapeString(dilation)}`,
      );
    }
  }
  const bias = checkBias(where, options.bias, O, input.device);
  const OH = (H - 1) * stride[0] - 2 * padding[0] + dilation[0] * (kh - 1) + outputPadding[0] + 1;
  const OW = (W - 1) * stride[1] - 2 * padding[1] + dilation[1] * (kw - 1) + outputPadding[1] + 1;
  if (OH < 1 || OW < 1 || kh < 1 || kw < 1) {
    throw new ShapeError(
      `${where}: the output size ${OH}x${OW} is not positive (input ${H}x${W}, kernel ${kh}x${kw}, stride ${shapeString(stride)}, padding ${shapeString(padding)})`,
    );
  }
  const params: ConvParams = { stride, padding, dilation, groups };
  const out = Tensor.empty([N, O, OH, OW], { device: input.device });
  // The adjoint of the conv2d that maps [N, O, OH, OW] to [N, C, H, W] with this weight.
  native().conv2dBackwardInput(input, weight, out, params);
  if (bias) native().addChannelBias(out, bias);
  return record(
    'convTranspose2d',
    [input, weight, bias],
    out,
    (g) => [
      input.requiresGrad ? convTransposeGradInput(g, weight, input.shape, params) : null,
      weight.requiresGrad ? conv2dGradWeight(input, g, weight.shape, params) : null,
      bias?.requiresGrad ? channelSums(g) : null,
    ],
    {
      type: 'ConvTranspose',
      inputs: [input, weight, bias],
      attrs: {
        kernel_shape: [kh, kw],
        strides: stride,
        pads: onnxPads(padding),
        dilations: dilation,
        group: groups,
        output_padding: outputPadding,
      },
    },
  );
}

function convTransposeGradInput(g: Tensor, weight: Tensor, shape: readonly number[], p: ConvParams): Tensor {
  const gi = Tensor.empty(shape, { device: g.device });
  native().conv2d(g, weight, null, gi, p);
  return gi;
}
