/**
 * Deformable convolution layers.
 *
 *   DeformConv2d           DCNv1: a deformable conv that owns its offset predictor
 *                          (`conv_offset`, a plain conv with the same kernel, stride, padding
 *                          and dilation, zero-initialised so the layer starts as a plain conv).
 *   ModulatedDeformConv2d  DCNv2: the predictor also outputs the modulation mask.
 *   DeformableConvBlock    deformable conv + BatchNorm2d + ReLU.
 *   DeformableBasicBlock   ResNet's basic block with a deformable second 3x3 conv.
 *   DeformSampler          warps a feature map by a predicted per-pixel offset field through
 *                          gridSample: the simplest deformation, handy to visualise.
 *   samplingLocations()    absolute sampling points of a layer for an input;
 *   samplingLocationsSvg() an SVG of an image with the points sampled for chosen pixels.
 *
 * State-dict keys follow the PyTorch ecosystem: `weight`, `bias` (torchvision DeformConv2d)
 * and `conv_offset.weight`, `conv_offset.bias` (mmcv's DeformConv2dPack /
 * ModulatedDeformConv2dPack, whose modulated predictor also lays its output out as
 * [offsets (2*G*kh*kw) | mask (G*kh*kw)]), so weights port both ways.
 */
import { noGrad } from '../autograd';
import { checkInt, checkOneOf, checkOptionKeys, checkPair, expectOptionsObject, shapeString } from '../check';
import { ArgumentError, describe, ShapeError } from '../errors';
import * as ops from '../ops';
import { Tensor } from '../tensor';
import { ReLU } from './activation';
import { Sequential } from './container';
import { Conv2d, checkInputChannels } from './conv';
import { resetConvLinear } from './init';
import { Module } from './module';
import { BatchNorm2d } from './normalization';
import { Parameter } from './parameter';

type Pair = number | [number, number];

export interface DeformConv2dOptions {
  kernelSize?: Pair; // default 3
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  groups?: number;
  offsetGroups?: number;
  bias?: boolean;
}

/**
 * How the mask branch's raw output becomes the modulation scalar:
 *   'sigmoid'  (default) the DCNv2 paper's choice, also mmcv's ModulatedDeformConv2dPack and
 *              torchvision's examples: mask in (0, 1), 0.5 at initialisation;
 *   '2sigmoid' 2 * sigmoid, mask in (0, 2), exactly 1.0 at initialisation, so a freshly
 *              built layer computes the same as the plain convolution it replaces (a variant
 *              used in some detection codebases when swapping DCN into pretrained networks).
 */
export type MaskActivation = 'sigmoid' | '2sigmoid';

export interface ModulatedDeformConv2dOptions extends DeformConv2dOptions {
  maskActivation?: MaskActivation;
}

interface Resolved {
  kernelSize: [number, number];
  stride: [number, number];
  padding: [number, number];
  dilation: [number, number];
  groups: number;
  offsetGroups: number;
  bias: boolean;
}

function resolve(where: string, inChannels: number, outChannels: number, o: DeformConv2dOptions): Resolved {
  if (o === null || typeof o !== 'object')
    throw new ArgumentError(`${where}: expected options to be an object but received ${describe(o)}`);
  checkOptionKeys(where, o, [
    'kernelSize',
    'stride',
    'padding',
    'dilation',
    'groups',
    'offsetGroups',
    'bias',
    ...(where === 'ModulatedDeformConv2d' ? ['maskActivation'] : []),
  ]);
  checkInt(where, 'inChannels', inChannels, 1);
  checkInt(where, 'outChannels', outChannels, 1);
  const groups = checkInt(where, 'groups', o.groups ?? 1, 1);
  const offsetGroups = checkInt(where, 'offsetGroups', o.offsetGroups ?? 1, 1);
  if (inChannels % groups !== 0 || outChannels % groups !== 0) {
    throw new ArgumentError(
      `${where}: expected inChannels (${inChannels}) and outChannels (${outChannels}) to be divisible by groups but received groups ${groups}`,
    );
  }
  if (inChannels % offsetGroups !== 0) {
    throw new ArgumentError(
      `${where}: expected inChannels (${inChannels}) to be divisible by offsetGroups but received offsetGroups ${offsetGroups}`,
    );
  }
  if (o.bias !== undefined && typeof o.bias !== 'boolean') {
    throw new ArgumentError(`${where}: expected bias to be a boolean but received ${describe(o.bias)}`);
  }
  return {
    kernelSize: checkPair(where, 'kernelSize', o.kernelSize ?? 3, 1),
    stride: checkPair(where, 'stride', o.stride ?? 1, 1),
    padding: checkPair(where, 'padding', o.padding ?? 0, 0),
    dilation: checkPair(where, 'dilation', o.dilation ?? 1, 1),
    groups,
    offsetGroups,
    bias: o.bias ?? true,
  };
}

/** Shared body of the two deformable conv layers. */
abstract class DeformConvBase extends Module {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly dilation: [number, number];
  readonly groups: number;
  readonly offsetGroups: number;
  weight: Parameter;
  bias: Parameter | null;
  /** Predicts offsets (and, when modulated, the mask) from the input. */
  conv_offset: Conv2d;

  protected constructor(
    where: string,
    inChannels: number,
    outChannels: number,
    options: DeformConv2dOptions,
    predictorChannelsPerTap: number,
  ) {
    super();
    const r = resolve(where, inChannels, outChannels, options);
    this.inChannels = inChannels;
    this.outChannels = outChannels;
    this.kernelSize = r.kernelSize;
    this.stride = r.stride;
    this.padding = r.padding;
    this.dilation = r.dilation;
    this.groups = r.groups;
    this.offsetGroups = r.offsetGroups;
    const [kh, kw] = r.kernelSize;
    this.weight = new Parameter(Tensor.empty([outChannels, inChannels / r.groups, kh, kw]));
    this.bias = r.bias ? new Parameter(Tensor.empty([outChannels])) : null;
    this.conv_offset = new Conv2d(inChannels, predictorChannelsPerTap * r.offsetGroups * kh * kw, {
      kernelSize: r.kernelSize,
      stride: r.stride,
      padding: r.padding,
      dilation: r.dilation,
      bias: true,
    });
    this.resetParameters();
  }

  /** torchvision's init for the main weight; the predictor starts at zero (a plain conv). */
  resetParameters(): void {
    resetConvLinear(this.weight, this.bias);
    noGrad(() => {
      ops.fill_(this.conv_offset.weight, 0);
      if (this.conv_offset.bias) ops.fill_(this.conv_offset.bias, 0);
    });
  }

  /** The offsets (N, 2*G*kh*kw, Ho, Wo) and the mask (or null) the layer uses for `x`. */
  abstract offsetsAndMask(x: Tensor): { offset: Tensor; mask: Tensor | null };

  forward(x: Tensor): Tensor {
    return this.forwardWith(x, this.weight, this.bias);
  }

  /**
   * The layer with its offsets and mask but another main weight and bias (inference with a
   * following batch norm folded into them: lib/nn/fold.ts), optionally packed
   * (ops.packDeformConv2dWeight of that weight), and optionally a residual add and ReLU fused
   * into the output pass (ops.deformConv2dFused).
   */
  forwardWith(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | null,
    packed: ops.PackedConv2dWeight | null = null,
    epilogue: ops.EpilogueOptions = {},
  ): Tensor {
    checkInputChannels(this.constructor.name, x, this.inChannels);
    const { offset, mask } = this.offsetsAndMask(x);
    return ops.deformConv2dFused(x, offset, weight, {
      bias,
      mask,
      stride: this.stride,
      padding: this.padding,
      dilation: this.dilation,
      packed,
      residual: epilogue.residual,
      relu: epilogue.relu,
    });
  }

  protected override extraRepr(): string {
    return `${this.inChannels}, ${this.outChannels}, kernelSize=${shapeString(this.kernelSize)}, stride=${shapeString(this.stride)}, padding=${shapeString(this.padding)}, offsetGroups=${this.offsetGroups}`;
  }
}

/** DCNv1 (torchvision.ops.DeformConv2d + its offset predictor, mmcv's DeformConv2dPack). */
export class DeformConv2d extends DeformConvBase {
  constructor(inChannels: number, outChannels: number, options: DeformConv2dOptions = {}) {
    super('DeformConv2d', inChannels, outChannels, options, 2);
  }

  offsetsAndMask(x: Tensor): { offset: Tensor; mask: Tensor | null } {
    return { offset: this.conv_offset.forward(x), mask: null };
  }
}

/** DCNv2 (mmcv's ModulatedDeformConv2dPack): offsets and a modulation mask per tap. */
export class ModulatedDeformConv2d extends DeformConvBase {
  readonly maskActivation: MaskActivation;

  constructor(inChannels: number, outChannels: number, options: ModulatedDeformConv2dOptions = {}) {
    super('ModulatedDeformConv2d', inChannels, outChannels, options, 3);
    this.maskActivation = checkOneOf('ModulatedDeformConv2d', 'maskActivation', options.maskActivation ?? 'sigmoid', [
      'sigmoid',
      '2sigmoid',
    ] as const);
  }

  offsetsAndMask(x: Tensor): { offset: Tensor; mask: Tensor | null } {
    const raw = this.conv_offset.forward(x);
    const taps = this.offsetGroups * this.kernelSize[0] * this.kernelSize[1];
    const offset = ops.slice(raw, 1, 0, 2 * taps);
    const logits = ops.slice(raw, 1, 2 * taps, 3 * taps);
    const sig = ops.sigmoid(logits);
    return { offset, mask: this.maskActivation === '2sigmoid' ? ops.scale(sig, 2) : sig };
  }

  protected override extraRepr(): string {
    return `${super.extraRepr()}, maskActivation=${this.maskActivation}`;
  }
}

export interface DeformableConvBlockOptions extends ModulatedDeformConv2dOptions {
  /** DCNv2 (ModulatedDeformConv2d) instead of DCNv1 (default false). */
  modulated?: boolean;
}

function deformLayer(
  inChannels: number,
  outChannels: number,
  o: DeformableConvBlockOptions,
): DeformConv2d | ModulatedDeformConv2d {
  const { modulated, maskActivation, ...layer } = o;
  if (modulated)
    return new ModulatedDeformConv2d(inChannels, outChannels, {
      ...layer,
      ...(maskActivation ? { maskActivation } : {}),
    });
  if (maskActivation !== undefined) {
    throw new ArgumentError(
      `DeformableConvBlock: maskActivation applies to modulated blocks only (modulated: true) but received modulated ${describe(modulated)}`,
    );
  }
  return new DeformConv2d(inChannels, outChannels, layer);
}

/**
 * Deformable conv (no bias: the BatchNorm shift replaces it) + BatchNorm2d + ReLU. Padding
 * defaults to dilation*(kernel-1)/2 per side, which keeps the size at stride 1 for odd kernels.
 * Keys: conv.weight, conv.conv_offset.*, bn.weight, bn.bias, bn.running_mean, ...
 */
export class DeformableConvBlock extends Module {
  conv: DeformConv2d | ModulatedDeformConv2d;
  bn: BatchNorm2d;
  relu: ReLU;

  constructor(inChannels: number, outChannels: number, options: DeformableConvBlockOptions = {}) {
    super();
    expectOptionsObject('DeformableConvBlock', options);
    const k = checkPair('DeformableConvBlock', 'kernelSize', options.kernelSize ?? 3, 1);
    const d = checkPair('DeformableConvBlock', 'dilation', options.dilation ?? 1, 1);
    const padding = options.padding ?? [Math.floor((d[0] * (k[0] - 1)) / 2), Math.floor((d[1] * (k[1] - 1)) / 2)];
    this.conv = deformLayer(inChannels, outChannels, {
      ...options,
      kernelSize: k,
      dilation: d,
      padding,
      bias: options.bias ?? false,
    });
    this.bn = new BatchNorm2d(outChannels);
    this.relu = new ReLU();
  }

  forward(x: Tensor): Tensor {
    return this.relu.forward(this.bn.forward(this.conv.forward(x)));
  }
}

export interface DeformableBasicBlockOptions {
  stride?: number;
  /** DCNv2 second conv (default false). */
  modulated?: boolean;
  maskActivation?: MaskActivation;
  offsetGroups?: number;
}

/**
 * ResNet's basic block (torchvision's BasicBlock layout and keys) with its second 3x3 conv
 * deformable, the usual place for DCN in ResNets: conv1 (3x3, stride) -> bn1 -> relu ->
 * conv2 (deformable 3x3) -> bn2, plus the shortcut; `downsample` (1x1 conv with the stride +
 * BatchNorm, keys downsample.0 / downsample.1) when the channels or the stride change.
 */
export class DeformableBasicBlock extends Module {
  conv1: Conv2d;
  bn1: BatchNorm2d;
  relu: ReLU;
  conv2: DeformConv2d | ModulatedDeformConv2d;
  bn2: BatchNorm2d;
  downsample: Sequential | null;

  constructor(inChannels: number, outChannels: number, options: DeformableBasicBlockOptions = {}) {
    super();
    expectOptionsObject('DeformableBasicBlock', options);
    const stride = checkInt('DeformableBasicBlock', 'stride', options.stride ?? 1, 1);
    this.conv1 = new Conv2d(inChannels, outChannels, { kernelSize: 3, stride, padding: 1, bias: false });
    this.bn1 = new BatchNorm2d(outChannels);
    this.relu = new ReLU();
    this.conv2 = deformLayer(outChannels, outChannels, {
      kernelSize: 3,
      padding: 1,
      bias: false,
      modulated: options.modulated,
      maskActivation: options.maskActivation,
      offsetGroups: options.offsetGroups,
    });
    this.bn2 = new BatchNorm2d(outChannels);
    this.downsample =
      stride !== 1 || inChannels !== outChannels
        ? new Sequential<Module>(
            new Conv2d(inChannels, outChannels, { kernelSize: 1, stride, bias: false }),
            new BatchNorm2d(outChannels),
          )
        : null;
  }

  forward(x: Tensor): Tensor {
    let out = this.relu.forward(this.bn1.forward(this.conv1.forward(x)));
    out = this.bn2.forward(this.conv2.forward(out));
    const identity = this.downsample ? this.downsample.forward(x) : x;
    return this.relu.forward(ops.add(out, identity));
  }
}

export interface DeformSamplerOptions {
  /** Kernel of the offset-field predictor (default 3, 'same' padding). */
  kernelSize?: number;
  /** What points outside the image sample (gridSample's padding modes; default 'zeros'). */
  paddingMode?: 'zeros' | 'border' | 'reflection';
}

/**
 * Predicts a dense offset field (N, 2, H, W) — (dy, dx) in pixels per output pixel — with a
 * zero-initialised conv (`conv_offset`), and warps the input by it with bilinear gridSample
 * (paddingMode, 'zeros' by default; alignCorners true so offset 0 reproduces the input exactly).
 */
export class DeformSampler extends Module {
  readonly inChannels: number;
  readonly paddingMode: 'zeros' | 'border' | 'reflection';
  conv_offset: Conv2d;

  constructor(inChannels: number, options: DeformSamplerOptions = {}) {
    super();
    checkInt('DeformSampler', 'inChannels', inChannels, 1);
    const k = checkInt('DeformSampler', 'kernelSize', options.kernelSize ?? 3, 1);
    if (k % 2 === 0)
      throw new ArgumentError(`DeformSampler: expected kernelSize to be odd (for 'same' padding) but received ${k}`);
    this.inChannels = inChannels;
    this.paddingMode = checkOneOf('DeformSampler', 'paddingMode', options.paddingMode ?? 'zeros', [
      'zeros',
      'border',
      'reflection',
    ] as const);
    this.conv_offset = new Conv2d(inChannels, 2, { kernelSize: k, padding: (k - 1) / 2 });
    noGrad(() => {
      ops.fill_(this.conv_offset.weight, 0);
      if (this.conv_offset.bias) ops.fill_(this.conv_offset.bias, 0);
    });
  }

  forward(x: Tensor): Tensor {
    checkInputChannels('DeformSampler', x, this.inChannels);
    return DeformSampler.warp(x, this.conv_offset.forward(x), this.paddingMode);
  }

  /** Samples x at (y + dy, x + dx) for the field `offset` (N, 2, H, W); differentiable in both. */
  static warp(x: Tensor, offset: Tensor, paddingMode: 'zeros' | 'border' | 'reflection' = 'zeros'): Tensor {
    if (!(x instanceof Tensor) || x.ndim !== 4)
      throw new ShapeError(
        `DeformSampler.warp: expected x to be a 4-D Tensor but received ${x instanceof Tensor ? shapeString(x.shape) : describe(x)}`,
      );
    const [N, , H, W] = x.shape;
    if (
      !(offset instanceof Tensor) ||
      offset.ndim !== 4 ||
      offset.shape[0] !== N ||
      offset.shape[1] !== 2 ||
      offset.shape[2] !== H ||
      offset.shape[3] !== W
    ) {
      throw new ShapeError(
        `DeformSampler.warp: expected offset of shape ${shapeString([N, 2, H, W])} but received ${offset instanceof Tensor ? shapeString(offset.shape) : describe(offset)}`,
      );
    }
    // alignCorners: pixel i sits at -1 + 2i/(S-1); a 1-pixel side stays at 0.
    const sy = H > 1 ? 2 / (H - 1) : 0,
      sx = W > 1 ? 2 / (W - 1) : 0;
    const base = Tensor.empty([1, 2, H, W], { device: 'cpu' });
    const b = base.data;
    for (let i = 0; i < H; i++) {
      for (let j = 0; j < W; j++) {
        b[i * W + j] = W > 1 ? -1 + j * sx : 0; // x first: gridSample's last dim is (x, y)
        b[H * W + i * W + j] = H > 1 ? -1 + i * sy : 0;
      }
    }
    const baseDev = x.device === 'cpu' ? base : base.to(x.device);
    const dy = ops.slice(offset, 1, 0, 1),
      dx = ops.slice(offset, 1, 1, 2);
    const shift = ops.concat([ops.scale(dx, sx), ops.scale(dy, sy)], 1);
    const grid = ops.permute(ops.add(shift, baseDev), [0, 2, 3, 1]);
    return ops.gridSample(x, grid, { mode: 'bilinear', paddingMode, alignCorners: true });
  }
}

/** Absolute sampling points of a deformable layer: layout [N, offsetGroups, kh*kw, Ho, Wo]. */
export interface SamplingLocations {
  shape: [number, number, number, number, number];
  y: Float32Array;
  x: Float32Array;
  /** Modulation per point (ModulatedDeformConv2d), else null. */
  mask: Float32Array | null;
  kernelSize: [number, number];
  stride: [number, number];
  padding: [number, number];
  dilation: [number, number];
}

/** Where `layer` samples `input`: y = oy*stride - pad + i*dilation + dy, likewise x. */
export function samplingLocations(layer: DeformConv2d | ModulatedDeformConv2d, input: Tensor): SamplingLocations {
  if (!(layer instanceof DeformConvBase)) {
    throw new ArgumentError(
      `samplingLocations: expected layer to be a DeformConv2d or ModulatedDeformConv2d but received ${describe(layer)}`,
    );
  }
  checkInputChannels('samplingLocations', input, layer.inChannels);
  return noGrad(() => {
    const { offset, mask } = layer.offsetsAndMask(input);
    const [N, , Ho, Wo] = offset.shape;
    const [kh, kw] = layer.kernelSize,
      K = kh * kw,
      G = layer.offsetGroups,
      P = Ho * Wo;
    const off = offset.device === 'cpu' ? offset.data : offset.to('cpu').data;
    const y = new Float32Array(N * G * K * P),
      x = new Float32Array(N * G * K * P);
    for (let n = 0; n < N; n++)
      for (let g = 0; g < G; g++)
        for (let k = 0; k < K; k++) {
          const i = Math.floor(k / kw),
            j = k % kw;
          const o = (n * G + g) * K + k;
          for (let oy = 0; oy < Ho; oy++)
            for (let ox = 0; ox < Wo; ox++) {
              const p = oy * Wo + ox;
              y[o * P + p] = oy * layer.stride[0] - layer.padding[0] + i * layer.dilation[0] + off[o * 2 * P + p];
              x[o * P + p] = ox * layer.stride[1] - layer.padding[1] + j * layer.dilation[1] + off[(o * 2 + 1) * P + p];
            }
        }
    const m = mask ? Float32Array.from(mask.device === 'cpu' ? mask.data : mask.to('cpu').data) : null;
    return {
      shape: [N, G, K, Ho, Wo],
      y,
      x,
      mask: m,
      kernelSize: [kh, kw],
      stride: layer.stride,
      padding: layer.padding,
      dilation: layer.dilation,
    };
  });
}
