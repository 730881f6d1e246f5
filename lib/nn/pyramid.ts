/**
 * Feature pyramids: merge backbone stages C2..C5 (high to low resolution) into pyramid levels
 * of one channel width for detection and segmentation heads.
 *
 * - FeaturePyramidNetwork (Lin et al., 2017; torchvision's FeaturePyramidNetwork): lateral 1x1
 *   convs, top-down upsampling to the exact lateral size and sum, 3x3 smoothing. Options:
 *   extra blocks (LastLevelMaxPool, LastLevelP6P7 as in RetinaNet), PANet's bottom-up path
 *   augmentation (Liu et al., 2018), weighted (fast normalised) fusion instead of sums, and SE
 *   channel attention on the outputs.
 * - BiFPN (Tan et al., EfficientDet, 2020): repeatable top-down + bottom-up layers whose every
 *   merge is a fast normalised fusion  sum_i relu(w_i) x_i / (eps + sum_j relu(w_j)).
 *
 * Inputs and outputs are arrays (index 0 = highest resolution) or named maps; with a map the
 * names are kept and extra levels are added under their own names ('pool', 'p6', 'p7').
 */
import { checkInt, checkOneOf, expectOptionsObject, shapeString } from '../check';
import { ArgumentError, describe, ShapeError } from '../errors';
import * as ops from '../ops';
import { Tensor } from '../tensor';
import { ReLU } from './activation';
import { Sequential } from './container';
import { BatchNorm2d } from './normalization';
import { Conv2d } from './conv';
import * as init from './init';
import { Module } from './module';
import { Parameter } from './parameter';

export type FeatureMaps = Tensor[] | Record<string, Tensor>;

/** Levels in order, plus their names when the input was a map. */
function unpack(where: string, input: FeatureMaps): { names: string[] | null; levels: Tensor[] } {
  if (Array.isArray(input)) return { names: null, levels: input };
  if (input === null || typeof input !== 'object') {
    throw new ArgumentError(
      `${where}: expected the features as an array or a named map of Tensors but received ${describe(input)}`,
    );
  }
  const names = Object.keys(input);
  return { names, levels: names.map((n) => input[n]) };
}

function pack(names: string[] | null, levels: Tensor[], extraNames: string[]): FeatureMaps {
  if (!names) return levels;
  const out: Record<string, Tensor> = {};
  const all = [...names, ...extraNames];
  levels.forEach((t, i) => (out[all[i]] = t));
  return out;
}

/** The failures the FPN literature warns about, each naming the level and both shapes. */
export function checkPyramidInputs(
  where: string,
  levels: Tensor[],
  names: string[] | null,
  inChannels: number[],
): void {
  if (!Array.isArray(levels) || !Array.isArray(inChannels)) {
    throw new ArgumentError(
      `${String(where)}: expected levels to be an array of Tensors, one per pyramid level, but received ${describe(levels)}`,
    );
  }
  const label = (i: number): string => (names ? `level ${i} ('${names[i]}')` : `level ${i}`);
  if (levels.length !== inChannels.length) {
    throw new ShapeError(
      `${where}: expected ${inChannels.length} levels (one per entry of inChannelsList) but received ${levels.length}`,
    );
  }
  levels.forEach((t, i) => {
    if (!(t instanceof Tensor) || t.ndim !== 4) {
      throw new ShapeError(
        `${where}: expected ${label(i)} of shape [N, ${inChannels[i]}, H, W] but received ${t instanceof Tensor ? shapeString(t.shape) : describe(t)}`,
      );
    }
    if (t.shape[1] !== inChannels[i]) {
      throw new ShapeError(
        `${where}: ${label(i)} has ${t.shape[1]} channels but inChannelsList[${i}] is ${inChannels[i]}: expected [N, ${inChannels[i]}, H, W], received ${shapeString(t.shape)}`,
      );
    }
    if (t.shape[0] !== levels[0].shape[0]) {
      throw new ShapeError(`${where}: ${label(i)} has batch ${t.shape[0]} but level 0 has batch ${levels[0].shape[0]}`);
    }
    if (i > 0) {
      const prev = levels[i - 1];
      if (t.shape[2] > prev.shape[2] || t.shape[3] > prev.shape[3]) {
        throw new ShapeError(
          `${where}: levels must be ordered from high to low resolution, but ${label(i)} ${shapeString(t.shape)} is larger than ${label(i - 1)} ${shapeString(prev.shape)}`,
        );
      }
    }
  });
}

/** torchvision's FPN init: kaiming_uniform_(a=1) weights, zero bias. */
function fpnConv(cin: number, cout: number, kernelSize: number, stride = 1, groups = 1, bias = true): Conv2d {
  const conv = new Conv2d(cin, cout, { kernelSize, stride, padding: Math.floor(kernelSize / 2), groups, bias });
  init.kaimingUniform_(conv.weight, { a: 1 });
  if (conv.bias) init.zeros_(conv.bias);
  return conv;
}

/**
 * Conv, then BatchNorm and ReLU when asked: torchvision's Conv2dNormActivation, a Sequential,
 * so the state-dict keys are torchvision's ('0.weight', '0.bias', '1.running_mean').
 */
class ConvNormAct extends Sequential {
  constructor(cin: number, cout: number, kernelSize: number, norm: boolean, act: boolean, stride = 1, bias = !norm) {
    super(
      ...[
        fpnConv(cin, cout, kernelSize, stride, 1, bias),
        norm ? new BatchNorm2d(cout) : null,
        act ? new ReLU() : null,
      ].filter((m): m is Module => m !== null),
    );
  }
  get conv(): Conv2d {
    return this.get(0) as Conv2d;
  }
  get bn(): BatchNorm2d | null {
    return this.length > 1 && this.get(1) instanceof BatchNorm2d ? (this.get(1) as BatchNorm2d) : null;
  }
}

/** Upsamples `x` to exactly `like`'s spatial size (odd sizes included). */
function resizeTo(x: Tensor, like: Tensor, mode: 'nearest' | 'bilinear'): Tensor {
  if (x.shape[2] === like.shape[2] && x.shape[3] === like.shape[3]) return x;
  return ops.interpolate(x, {
    size: [like.shape[2], like.shape[3]],
    mode,
    alignCorners: mode === 'bilinear' ? false : undefined,
  });
}

/**
 * Fast normalised fusion of n same-shape maps: sum_i relu(w_i) x_i / (eps + sum_j relu(w_j)),
 * weights initialised to 1 (EfficientDet).
 */
export class WeightedFusion extends Module {
  weight: Parameter;
  constructor(
    readonly inputs: number,
    readonly eps = 1e-4,
  ) {
    super();
    this.weight = new Parameter(Tensor.ones([checkInt('WeightedFusion', 'inputs', inputs, 1)]));
  }
  forward(xs: Tensor[]): Tensor {
    if (!Array.isArray(xs) || !xs.every((x) => x instanceof Tensor)) {
      throw new ArgumentError(
        `WeightedFusion: expected an array of ${this.inputs} Tensors but received ${describe(xs)}`,
      );
    }
    if (xs.length !== this.inputs) {
      throw new ArgumentError(`WeightedFusion: expected ${this.inputs} inputs but received ${xs.length}`);
    }
    const w = ops.relu(this.weight);
    const normalised = ops.div(w, ops.add(ops.sum(w), this.eps));
    let out: Tensor | null = null;
    xs.forEach((x, i) => {
      const term = ops.mul(x, ops.slice(normalised, 0, i, i + 1));
      out = out ? ops.add(out, term) : term;
    });
    return out as unknown as Tensor;
  }
}

/** Squeeze-and-excitation channel attention (Hu et al., 2018). */
export class SqueezeExcitation extends Module {
  fc1: Conv2d;
  fc2: Conv2d;
  constructor(channels: number, reduction = 4) {
    super();
    const hidden = Math.max(1, Math.floor(channels / checkInt('SqueezeExcitation', 'reduction', reduction, 1)));
    this.fc1 = new Conv2d(channels, hidden, { kernelSize: 1 });
    this.fc2 = new Conv2d(hidden, channels, { kernelSize: 1 });
  }
  forward(x: Tensor): Tensor {
    const s = ops.adaptiveAvgPool2d(x, 1);
    const gate = ops.sigmoid(this.fc2.forward(ops.relu(this.fc1.forward(s))));
    return ops.mul(x, gate);
  }
}

/** An extra pyramid level made from the last ones (torchvision's ExtraFPNBlock). */
export abstract class ExtraBlock extends Module {
  /** Names of the levels it adds. */
  abstract readonly names: string[];
  abstract override forward(results: Tensor[], inputs: Tensor[]): Tensor[];
}

/** A non-empty array of Tensors, or an ArgumentError naming `where` and `name`. */
function checkTensorList(where: string, name: string, list: unknown): void {
  if (!Array.isArray(list) || list.length === 0 || !list.every((t) => t instanceof Tensor)) {
    throw new ArgumentError(
      `${where}: expected ${name} to be a non-empty array of Tensors but received ${describe(list)}`,
    );
  }
}

/** P6 = max_pool2d(P5, kernel 1, stride 2), as torchvision and Faster R-CNN's FPN. */
export class LastLevelMaxPool extends ExtraBlock {
  readonly names = ['pool'];
  forward(results: Tensor[]): Tensor[] {
    checkTensorList('LastLevelMaxPool', 'results', results);
    return [...results, ops.maxPool2d(results[results.length - 1], { kernelSize: 1, stride: 2, padding: 0 })];
  }
}

/**
 * RetinaNet's P6 and P7: P6 = conv3x3/2 of C5 (or of P5 when in == out channels, as
 * torchvision), P7 = conv3x3/2 of relu(P6).
 */
export class LastLevelP6P7 extends ExtraBlock {
  readonly names = ['p6', 'p7'];
  p6: Conv2d;
  p7: Conv2d;
  readonly useP5: boolean;
  constructor(inChannels: number, outChannels: number) {
    super();
    this.p6 = fpnConv(inChannels, outChannels, 3, 2);
    this.p7 = fpnConv(outChannels, outChannels, 3, 2);
    this.useP5 = inChannels === outChannels;
  }
  forward(results: Tensor[], inputs: Tensor[]): Tensor[] {
    checkTensorList('LastLevelP6P7', 'results', results);
    checkTensorList('LastLevelP6P7', 'inputs', inputs);
    const source = this.useP5 ? results[results.length - 1] : inputs[inputs.length - 1];
    const p6 = this.p6.forward(source);
    const p7 = this.p7.forward(ops.relu(p6));
    return [...results, p6, p7];
  }
}

export interface FeaturePyramidOptions {
  upsample?: 'nearest' | 'bilinear';
  extraBlocks?: ExtraBlock | null;
  /** 'batch' adds BatchNorm after every FPN conv (torchvision's norm_layer). */
  norm?: 'batch' | null;
  /** 'relu' after the lateral and output convs. */
  activation?: 'relu' | null;
  /**
   * Biases on the lateral and output convs (default: true without norm, false with it, as
   * torchvision's Conv2dNormActivation).
   */
  bias?: boolean;
  /** 'weighted': fast normalised fusion at every top-down merge instead of a plain sum. */
  fusion?: 'sum' | 'weighted';
  /** PANet's bottom-up path augmentation after the top-down pass. */
  bottomUp?: boolean;
  /** Squeeze-and-excitation on each output level (reduction 4 by default). */
  attention?: 'se' | null;
  seReduction?: number;
}

export class FeaturePyramidNetwork extends Module {
  readonly inChannelsList: number[];
  readonly outChannels: number;
  // Field names are torchvision's state-dict names (inner_blocks.0.0.weight, layer_blocks.0.0.bias,
  // extra_blocks.p6.weight), so torchvision FPN checkpoints load as they are.
  /** The lateral 1x1 convs, one per input level. */
  inner_blocks: ConvNormAct[];
  /** The 3x3 output convs, one per input level. */
  layer_blocks: ConvNormAct[];
  fusions: WeightedFusion[];
  downsample: ConvNormAct[];
  aggregate: ConvNormAct[];
  attention: SqueezeExcitation[];
  extra_blocks: ExtraBlock | null;
  private readonly upsampleMode: 'nearest' | 'bilinear';

  get extraBlocks(): ExtraBlock | null {
    return this.extra_blocks;
  }

  constructor(inChannelsList: number[], outChannels: number, options: FeaturePyramidOptions = {}) {
    super();
    const where = 'FeaturePyramidNetwork';
    expectOptionsObject(where, options);
    if (!Array.isArray(inChannelsList) || inChannelsList.length === 0) {
      throw new ArgumentError(
        `${where}: expected inChannelsList to be a non-empty array of positive integers but received ${describe(inChannelsList)}`,
      );
    }
    inChannelsList.forEach((c, i) => checkInt(where, `inChannelsList[${i}]`, c, 1));
    this.inChannelsList = [...inChannelsList];
    this.outChannels = checkInt(where, 'outChannels', outChannels, 1);
    this.upsampleMode = checkOneOf(where, 'upsample', options.upsample ?? 'nearest', ['nearest', 'bilinear'] as const);
    const norm = checkOneOf(where, 'norm', options.norm ?? 'none', ['batch', 'none'] as const) === 'batch';
    const act = checkOneOf(where, 'activation', options.activation ?? 'none', ['relu', 'none'] as const) === 'relu';
    const fusion = checkOneOf(where, 'fusion', options.fusion ?? 'sum', ['sum', 'weighted'] as const);
    const attention = checkOneOf(where, 'attention', options.attention ?? 'none', ['se', 'none'] as const);
    const bias = options.bias ?? !norm;
    if (typeof bias !== 'boolean')
      throw new ArgumentError(`${where}: expected bias to be a boolean but received ${describe(bias)}`);
    const levels = inChannelsList.length;
    this.inner_blocks = inChannelsList.map((c) => new ConvNormAct(c, outChannels, 1, norm, act, 1, bias));
    this.layer_blocks = inChannelsList.map(() => new ConvNormAct(outChannels, outChannels, 3, norm, act, 1, bias));
    this.fusions = fusion === 'weighted' ? Array.from({ length: levels - 1 }, () => new WeightedFusion(2)) : [];
    const bottomUp = options.bottomUp ?? false;
    this.downsample = bottomUp
      ? Array.from({ length: levels - 1 }, () => new ConvNormAct(outChannels, outChannels, 3, norm, true, 2))
      : [];
    this.aggregate = bottomUp
      ? Array.from({ length: levels - 1 }, () => new ConvNormAct(outChannels, outChannels, 3, norm, true))
      : [];
    this.extra_blocks = options.extraBlocks ?? null;
    const outLevels = levels + (this.extra_blocks?.names.length ?? 0);
    this.attention =
      attention === 'se'
        ? Array.from({ length: outLevels }, () => new SqueezeExcitation(outChannels, options.seReduction ?? 4))
        : [];
  }

  forward(input: FeatureMaps): FeatureMaps {
    const { names, levels } = unpack('FeaturePyramidNetwork', input);
    checkPyramidInputs('FeaturePyramidNetwork', levels, names, this.inChannelsList);
    const last = levels.length - 1;
    let lastInner = this.inner_blocks[last].forward(levels[last]);
    const results: Tensor[] = new Array(levels.length);
    results[last] = this.layer_blocks[last].forward(lastInner);
    for (let i = last - 1; i >= 0; i--) {
      const lateral = this.inner_blocks[i].forward(levels[i]);
      if (this.fusions.length) {
        lastInner = this.fusions[i].forward([lateral, resizeTo(lastInner, lateral, this.upsampleMode)]);
      } else {
        // lateral + upsampled top-down in one pass (no upsampled intermediate).
        const mode = this.upsampleMode;
        lastInner = ops.addInterpolated(lateral, lastInner, {
          mode,
          alignCorners: mode === 'bilinear' ? false : undefined,
        });
      }
      results[i] = this.layer_blocks[i].forward(lastInner);
    }
    let outputs = this.downsample.length ? this.bottomUpPath(results) : results;
    if (this.extra_blocks) outputs = this.extra_blocks.forward(outputs, levels);
    if (this.attention.length) outputs = outputs.map((t, i) => this.attention[i].forward(t));
    return pack(names, outputs, this.extra_blocks?.names ?? []);
  }

  /** PANet: N0 = P0; N(i+1) = agg(down(Ni) + P(i+1)), with 3x3 convs and ReLU. */
  private bottomUpPath(p: Tensor[]): Tensor[] {
    const n = [p[0]];
    for (let i = 0; i < p.length - 1; i++) {
      const down = resizeTo(this.downsample[i].forward(n[i]), p[i + 1], 'nearest');
      n.push(this.aggregate[i].forward(ops.add(down, p[i + 1])));
    }
    return n;
  }
}

export interface BiFPNOptions {
  /** How many BiFPN layers are stacked (EfficientDet-D0 uses 3). */
  repeats?: number;
  eps?: number;
  /** Depthwise-separable 3x3 convs (EfficientDet) or plain 3x3 convs. */
  conv?: 'separable' | 'standard';
}

/** Activation, 3x3 (separable) conv, BatchNorm: EfficientDet's node after each fusion. */
class BiFPNNode extends Module {
  fusion: WeightedFusion;
  depthwise: Conv2d | null;
  pointwise: Conv2d;
  bn: BatchNorm2d;
  constructor(inputs: number, channels: number, separable: boolean, eps: number) {
    super();
    this.fusion = new WeightedFusion(inputs, eps);
    this.depthwise = separable ? fpnConv(channels, channels, 3, 1, channels, false) : null;
    this.pointwise = separable ? fpnConv(channels, channels, 1) : fpnConv(channels, channels, 3);
    this.bn = new BatchNorm2d(channels);
  }
  forward(xs: Tensor[]): Tensor {
    let y = ops.silu(this.fusion.forward(xs));
    if (this.depthwise) y = this.depthwise.forward(y);
    return this.bn.forward(this.pointwise.forward(y));
  }
}

/** One BiFPN layer over `levels` maps of `channels` channels. */
export class BiFPNLayer extends Module {
  topDown: BiFPNNode[];
  bottomUp: BiFPNNode[];
  constructor(
    readonly channels: number,
    readonly levels: number,
    options: { eps?: number; conv?: 'separable' | 'standard' } = {},
  ) {
    super();
    checkInt('BiFPNLayer', 'levels', levels, 2);
    expectOptionsObject('BiFPNLayer', options);
    const separable = (options.conv ?? 'separable') === 'separable';
    const eps = options.eps ?? 1e-4;
    this.topDown = Array.from({ length: levels - 1 }, () => new BiFPNNode(2, channels, separable, eps));
    // Intermediate levels fuse three inputs (input, top-down, bottom-up); the last one two.
    this.bottomUp = Array.from(
      { length: levels - 1 },
      (_, i) => new BiFPNNode(i === levels - 2 ? 2 : 3, channels, separable, eps),
    );
  }

  forward(p: Tensor[]): Tensor[] {
    const last = p.length - 1;
    const td: Tensor[] = new Array(p.length);
    td[last] = p[last];
    for (let i = last - 1; i >= 0; i--) {
      td[i] = this.topDown[i].forward([p[i], resizeTo(td[i + 1], p[i], 'nearest')]);
    }
    const out: Tensor[] = [td[0]];
    for (let i = 1; i <= last; i++) {
      const down = resizeTo(ops.maxPool2d(out[i - 1], { kernelSize: 3, stride: 2, padding: 1 }), p[i], 'nearest');
      const inputs = i === last ? [p[i], down] : [p[i], td[i], down];
      out.push(this.bottomUp[i - 1].forward(inputs));
    }
    return out;
  }
}

/**
 * BiFPN: 1x1 lateral convs bring each level to `outChannels` (skipped where it already has
 * them), then `repeats` BiFPN layers.
 */
export class BiFPN extends Module {
  readonly inChannelsList: number[];
  lateral: (Conv2d | null)[];
  layers: BiFPNLayer[];

  constructor(
    inChannelsList: number[],
    readonly outChannels: number,
    options: BiFPNOptions = {},
  ) {
    super();
    const where = 'BiFPN';
    expectOptionsObject(where, options);
    if (!Array.isArray(inChannelsList) || inChannelsList.length < 2) {
      throw new ArgumentError(
        `${where}: expected inChannelsList to hold at least 2 levels but received ${describe(inChannelsList)}`,
      );
    }
    inChannelsList.forEach((c, i) => checkInt(where, `inChannelsList[${i}]`, c, 1));
    checkInt(where, 'outChannels', outChannels, 1);
    this.inChannelsList = [...inChannelsList];
    this.lateral = inChannelsList.map((c) => (c === outChannels ? null : fpnConv(c, outChannels, 1)));
    const repeats = checkInt(where, 'repeats', options.repeats ?? 1, 1);
    this.layers = Array.from({ length: repeats }, () => new BiFPNLayer(outChannels, inChannelsList.length, options));
  }

  /** Lateral convs that exist, as Module children (null entries are skipped by the walker). */
  forward(input: FeatureMaps): FeatureMaps {
    const { names, levels } = unpack('BiFPN', input);
    checkPyramidInputs('BiFPN', levels, names, this.inChannelsList);
    let p = levels.map((t, i) => this.lateral[i]?.forward(t) ?? t);
    for (const layer of this.layers) p = layer.forward(p);
    return pack(names, p, []);
  }
}
