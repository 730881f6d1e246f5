/**
 * Octave convolution (Chen et al., "Drop an Octave", 2019): a fraction alpha of the channels
 * lives at half resolution (the low-frequency band) and four paths exchange information:
 *
 *   high' = h2h(high) + upsample(l2h(low))        (nearest, to the exact high-band size)
 *   low'  = l2l(low)  + h2l(avgpool2x2(high))
 *
 * Stride 2 average-pools both bands before the convolutions (downsample 'pool', the paper's
 * reference code), or runs every path's conv with stride 2 (downsample 'stride': h2h and l2l
 * strided, h2l strided after the 2x2 pool, l2h strided then upsampled to the high band).
 * alphaIn = 0 (first layer) or alphaOut = 0 (last layer) removes the paths that would have no
 * channels; alphaOut = 1 gives an empty (zero-channel) high band. Channels split as the
 * reference implementations do: low = round(alpha * C) with Python's round (halves to even:
 * 5 channels at alpha 0.5 give 2 low, 3 high), high = C - low.
 *
 * Layers take and return a pair [high, low | null]; splitBands / mergeBands convert between
 * one tensor and the pair.
 */
import {
  checkInt,
  checkNumber,
  checkOneOf,
  checkOptionKeys,
  checkPair,
  expectOptionsObject,
  shapeString,
} from '../check';
import { ArgumentError, describe, ShapeError } from '../errors';
import { isGradEnabled } from '../autograd';
import { activeTracer } from '../onnx/trace';
import * as ops from '../ops';
import { keep } from '../scope';
import { Tensor } from '../tensor';
import { BatchNorm2d } from './normalization';
import { Conv2d } from './conv';
import { canFold, foldedPackedWeights } from './fold';
import { Module } from './module';

export type OctaveBands = [Tensor, Tensor | null];

/** Receives one line per traced tensor: `<layer> <band> [N, C, H, W]`. */
export type TraceFn = (line: string) => void;

export interface OctaveConv2dOptions {
  kernelSize: number | [number, number];
  stride?: 1 | 2;
  /** How stride 2 downsamples: 'pool' (default) average-pools both bands first; 'stride' strides every conv. */
  downsample?: 'pool' | 'stride';
  padding?: number | [number, number];
  alphaIn?: number;
  alphaOut?: number;
  groups?: number;
  bias?: boolean;
  /** Log each band's shape through forward (true: console.log; or a function of your own). */
  trace?: boolean | TraceFn;
}

/** Low-band channel count, as the reference implementations compute it: Python's round(alpha * C). */
export function lowChannels(channels: number, alpha: number): number {
  const x = alpha * channels;
  const r = Math.round(x);
  // Python rounds halves to even (round(2.5) == 2); Math.round rounds them up.
  return Math.abs(x - Math.trunc(x)) === 0.5 ? 2 * Math.round(x / 2) : r;
}

/** @internal (also used by models/octnet.ts) */
export function checkAlpha(where: string, name: string, alpha: unknown): number {
  const a = checkNumber(where, name, alpha);
  if (a < 0 || a > 1) throw new ArgumentError(`${where}: expected ${name} in [0, 1] but received ${describe(alpha)}`);
  return a;
}

/** @internal (also used by models/octnet.ts) */
export function traceFn(trace: OctaveConv2dOptions['trace']): TraceFn | null {
  if (trace === true) return (line) => console.log(line);
  return typeof trace === 'function' ? trace : null;
}

function nothingPooled(): void {}

/**
 * conv2dFused's options for a conv of an octave layer (its convs share stride, padding and
 * dilation), written out in one order: spreading a geometry object into each call's options made
 * V8 build new hidden classes in the steady state.
 */
function fusedOptions(
  geometryOf: Conv2d,
  bias: Tensor | null,
  residual: Tensor | null,
  relu: boolean,
  packed: ops.PackedConv2dWeight,
): ops.Conv2dFusedOptions {
  return {
    bias,
    stride: geometryOf.stride,
    padding: geometryOf.padding as [number, number], // octave convs always take numeric padding
    dilation: geometryOf.dilation,
    residual,
    relu,
    packed,
  };
}

function downsample(x: Tensor): Tensor {
  return ops.avgPool2d(x, { kernelSize: 2, stride: 2 });
}

/** Sum of the tensors that exist (a band fed by one or two paths). */
function sumPaths(a: Tensor | null, b: Tensor | null): Tensor | null {
  if (a && b) return ops.add(a, b);
  return a ?? b;
}

/** The low band's two folded weights stacked along input channels, and packed (see lowBandFolded). */
interface StackedLowWeight {
  from: [Tensor, Tensor];
  weight: Tensor;
  packed: ops.PackedConv2dWeight;
}
const stackedLowCache = new WeakMap<OctaveConv2d, StackedLowWeight>();

export class OctaveConv2d extends Module {
  readonly inHigh: number;
  readonly inLow: number;
  readonly outHigh: number;
  readonly outLow: number;
  readonly stride: 1 | 2;
  readonly downsampleMode: 'pool' | 'stride';
  h2h: Conv2d | null;
  h2l: Conv2d | null;
  l2h: Conv2d | null;
  l2l: Conv2d | null;
  /** Name used in trace lines. */
  traceName = 'OctaveConv2d';
  private readonly trace: TraceFn | null;

  constructor(inChannels: number, outChannels: number, options: OctaveConv2dOptions) {
    super();
    const where = 'OctaveConv2d';
    expectOptionsObject(where, options, '{ kernelSize, alphaIn, alphaOut }');
    checkOptionKeys(where, options, [
      'kernelSize',
      'stride',
      'downsample',
      'padding',
      'alphaIn',
      'alphaOut',
      'groups',
      'bias',
      'trace',
    ]);
    checkInt(where, 'inChannels', inChannels, 1);
    checkInt(where, 'outChannels', outChannels, 1);
    const alphaIn = checkAlpha(where, 'alphaIn', options.alphaIn ?? 0.5);
    const alphaOut = checkAlpha(where, 'alphaOut', options.alphaOut ?? 0.5);
    const stride = options.stride ?? 1;
    if (stride !== 1 && stride !== 2) {
      throw new ArgumentError(`${where}: expected stride to be 1 or 2 but received ${describe(stride)}`);
    }
    this.stride = stride;
    this.downsampleMode = checkOneOf(where, 'downsample', options.downsample ?? 'pool', ['pool', 'stride'] as const);
    this.inLow = lowChannels(inChannels, alphaIn);
    this.inHigh = inChannels - this.inLow;
    this.outLow = lowChannels(outChannels, alphaOut);
    this.outHigh = outChannels - this.outLow;
    const groups = checkInt(where, 'groups', options.groups ?? 1, 1);
    for (const [name, c] of [
      ['high-band input', this.inHigh],
      ['low-band input', this.inLow],
      ['high-band output', this.outHigh],
      ['low-band output', this.outLow],
    ] as const) {
      if (c % groups !== 0) {
        throw new ArgumentError(`${where}: groups (${groups}) must divide the ${name} channels (${c})`);
      }
    }
    const convStride = stride === 2 && this.downsampleMode === 'stride' ? 2 : 1;
    const conv = (cin: number, cout: number): Conv2d | null =>
      cin > 0 && cout > 0
        ? new Conv2d(cin, cout, {
            kernelSize: checkPair(where, 'kernelSize', options.kernelSize, 1),
            stride: convStride,
            padding: checkPair(where, 'padding', options.padding ?? 0, 0),
            groups,
            bias: options.bias ?? false,
          })
        : null;
    this.h2h = conv(this.inHigh, this.outHigh);
    this.h2l = conv(this.inHigh, this.outLow);
    this.l2h = conv(this.inLow, this.outHigh);
    this.l2l = conv(this.inLow, this.outLow);
    this.trace = traceFn(options.trace);
  }

  forward(bands: OctaveBands | Tensor): OctaveBands {
    const { high, low, releasePooled } = this.inputBands(bands);
    const h2h = this.h2h ? this.h2h.forward(high) : null;
    const outLow = this.lowBand(high, low);
    let outHigh = h2h;
    if (this.l2h && low) {
      const small = this.l2h.forward(low);
      // Upsampled to the exact high-band size, so odd sizes (7 -> 3 -> 7) line up; added to
      // h2h in the same pass.
      const [oh, ow] = this.highOutSize(high);
      outHigh = h2h
        ? ops.addInterpolated(h2h, small, { mode: 'nearest' })
        : ops.interpolate(small, { size: [oh, ow], mode: 'nearest' });
      this.release(small, h2h);
    }
    releasePooled();
    // alphaOut = 1: the high band is empty (zero channels), as the reference returns it.
    if (!outHigh) outHigh = Tensor.zeros([high.shape[0], 0, ...this.highOutSize(high)], { device: high.device });
    this.log('out', outHigh, outLow);
    return [outHigh, outLow];
  }

  /**
   * relu?(bn(band)) of both output bands for eval inference (OctaveConvBlock), with each band's
   * BatchNorm folded into the weights of the convs that feed the band (lib/nn/fold.ts) and
   * each band one conv call whose epilogue adds the bias, the band's other path and the ReLU:
   * the high band's low-to-high path, upsampled, enters h2h's epilogue as its residual; the low
   * band's two paths are one conv over the stacked inputs, as in training. The BatchNorm and
   * ReLU passes, the add and the per-call packing of the stacked weight are gone. The caller
   * checks it applies (OctaveConvBlock.foldable): eval mode, nothing recording, no biases,
   * one group, a high band that has its h2h path.
   * @internal
   */
  foldedForward(
    bands: OctaveBands | Tensor,
    bnHigh: BatchNorm2d,
    bnLow: BatchNorm2d | null,
    relu: boolean,
  ): OctaveBands {
    const { high, low, releasePooled } = this.inputBands(bands);
    const h2h = this.h2h as Conv2d;
    const outLow = bnLow ? this.lowBandFolded(high, low, bnLow, relu, h2h) : null;
    const top = foldedPackedWeights(h2h, bnHigh);
    let fromLow: Tensor | null = null;
    if (this.l2h && low) {
      const side = foldedPackedWeights(this.l2h, bnHigh); // (its bias is top's: the convs have none)
      const small = ops.conv2dFused(low, side.weight, fusedOptions(h2h, null, null, false, side.packed));
      fromLow = ops.interpolate(small, { size: this.highOutSize(high), mode: 'nearest' });
      small.dispose();
    }
    const outHigh = ops.conv2dFused(high, top.weight, fusedOptions(h2h, top.bias, fromLow, relu, top.packed));
    fromLow?.dispose();
    releasePooled();
    this.log('out', outHigh, outLow);
    return [outHigh, outLow];
  }

  /** lowBand with bn folded in and the ReLU in the epilogue (foldedForward). */
  private lowBandFolded(
    high: Tensor,
    low: Tensor | null,
    bn: BatchNorm2d,
    relu: boolean,
    geometryOf: Conv2d,
  ): Tensor | null {
    const l2l = this.l2l && low ? foldedPackedWeights(this.l2l, bn) : null;
    const h2l = this.h2l ? foldedPackedWeights(this.h2l, bn) : null;
    if (!l2l && !h2l) return null;
    const bias = (l2l ?? h2l)!.bias; // the same for both: the convs have no bias of their own
    const pooled = h2l ? downsample(high) : null;
    let input: Tensor, weight: Tensor, packed: ops.PackedConv2dWeight;
    if (l2l && h2l && low && pooled) {
      input = ops.concat([low, pooled], 1);
      ({ weight, packed } = this.stackedLowWeight(l2l.weight, h2l.weight));
    } else {
      input = (l2l ? low : pooled) as Tensor;
      ({ weight, packed } = (l2l ?? h2l)!);
    }
    const out = ops.conv2dFused(input, weight, fusedOptions(geometryOf, bias, null, relu, packed));
    if (input !== low) input.dispose();
    if (pooled && pooled !== input) pooled.dispose();
    return out;
  }

  /** [l2l | h2l] (the folded weights) along input channels, packed; rebuilt when either is. */
  private stackedLowWeight(l2l: Tensor, h2l: Tensor): StackedLowWeight {
    const hit = stackedLowCache.get(this);
    if (hit && hit.from[0] === l2l && hit.from[1] === h2l) return hit;
    hit?.weight.dispose();
    // Kept outside every tidy() scope: the cache owns it until the next rebuild.
    const weight = keep(ops.concat([l2l, h2l], 1));
    const entry = { from: [l2l, h2l] as [Tensor, Tensor], weight, packed: ops.packConv2dWeight(weight, 1) };
    stackedLowCache.set(this, entry);
    return entry;
  }

  /**
   * The input bands, checked and logged, then average-pooled first at stride 2 in 'pool' mode;
   * releasePooled frees those pooled copies once the convs have read them.
   */
  private inputBands(bands: OctaveBands | Tensor): { high: Tensor; low: Tensor | null; releasePooled: () => void } {
    const high = Array.isArray(bands) ? bands[0] : bands;
    const low = Array.isArray(bands) ? bands[1] : null;
    this.checkBands(high, low);
    this.log('in', high, low);
    this.checkPoolable(high, low);
    if (this.stride !== 2 || this.downsampleMode !== 'pool') return { high, low, releasePooled: nothingPooled };
    const pooledHigh = downsample(high);
    const pooledLow = low && downsample(low);
    return { high: pooledHigh, low: pooledLow, releasePooled: () => this.release(pooledHigh, pooledLow) };
  }

  /**
   * Every band this layer average-pools 2x2 must be at least 2x2: both bands at stride 2 in
   * 'pool' mode, then the (pooled) high band on its way into the low band. Tiny late-stage maps
   * otherwise fail deep inside avgPool2d with a message about pooling, not octave convolution.
   */
  private checkPoolable(high: Tensor, low: Tensor | null): void {
    const fail = (what: string, h: number, w: number): never => {
      throw new ShapeError(
        `OctaveConv2d: expected ${what} to be at least 2x2 for its 2x2 average pooling but received ${h}x${w} (high band ${high.shape[2]}x${high.shape[3]}): ` +
          'octave convolution needs larger feature maps here (octave in fewer, earlier stages, or a stem that keeps more resolution)',
      );
    };
    let [h, w] = [high.shape[2], high.shape[3]];
    if (this.stride === 2 && this.downsampleMode === 'pool') {
      if (h < 2 || w < 2) fail('the high band', h, w);
      if (low && (low.shape[2] < 2 || low.shape[3] < 2)) fail('the low band', low.shape[2], low.shape[3]);
      [h, w] = [Math.floor(h / 2), Math.floor(w / 2)];
    }
    if (this.h2l && (h < 2 || w < 2)) fail('the high band feeding the low band', h, w);
  }

  /** Spatial size of the output high band for the (pooled, in 'pool' mode) input high band. */
  private highOutSize(high: Tensor): [number, number] {
    const conv = this.h2h ?? this.h2l ?? this.l2h ?? this.l2l;
    if (!conv) return [high.shape[2], high.shape[3]];
    const pad = conv.padding as [number, number]; // octave convs always take numeric padding
    const size = (n: number, a: 0 | 1) =>
      Math.floor((n + 2 * pad[a] - conv.dilation[a] * (conv.kernelSize[a] - 1) - 1) / conv.stride[a]) + 1;
    return [size(high.shape[2], 0), size(high.shape[3], 1)];
  }

  /**
   * low' = l2l(low) + h2l(avgpool(high)). With both paths and groups 1 this is ONE conv of the
   * two inputs stacked along channels with the two weights stacked the same way: no add pass,
   * one GEMM with twice the depth instead of two thin ones (K = 2 * Cin * kh * kw), and in
   * backward one input-gradient GEMM and one weight-gradient GEMM instead of two each.
   */
  private lowBand(high: Tensor, low: Tensor | null): Tensor | null {
    const l2l = this.l2l && low ? this.l2l : null;
    const h2l = this.h2l;
    if (!l2l && !h2l) return null;
    const pooled = h2l ? downsample(high) : null;
    if (!l2l || !h2l || !low || !pooled || l2l.groups !== 1) {
      const a = l2l && low ? l2l.forward(low) : null;
      const b = h2l && pooled ? h2l.forward(pooled) : null;
      const sum = sumPaths(a, b);
      if (a && b) this.release(a, b);
      this.release(pooled);
      return sum;
    }
    const input = ops.concat([low, pooled], 1);
    const weight = ops.concat([l2l.weight, h2l.weight], 1);
    const bias = l2l.bias && h2l.bias ? ops.add(l2l.bias, h2l.bias) : (l2l.bias ?? h2l.bias);
    const out = ops.conv2d(input, weight, { bias, stride: l2l.stride, padding: l2l.padding, dilation: l2l.dilation });
    this.release(pooled, input, weight, bias !== l2l.bias && bias !== h2l.bias ? bias : null);
    return out;
  }

  /**
   * Frees intermediates right away when nothing can hold them (no autograd, no ONNX trace),
   * so inference reuses their memory instead of waiting for the garbage collector.
   */
  private release(...tensors: (Tensor | null)[]): void {
    if (isGradEnabled() || activeTracer() !== null) return;
    for (const t of tensors) t?.dispose();
  }

  private checkBands(high: Tensor, low: Tensor | null): void {
    const where = this.traceName;
    if (!(high instanceof Tensor) || high.ndim !== 4 || high.shape[1] !== this.inHigh) {
      throw new ShapeError(
        `${where}: expected the high band of shape [N, ${this.inHigh}, H, W] but received ${high instanceof Tensor ? shapeString(high.shape) : describe(high)}`,
      );
    }
    if (this.inLow === 0) {
      if (low)
        throw new ShapeError(
          `${where}: alphaIn = 0 takes no low band but received one of shape ${shapeString(low.shape)}`,
        );
      return;
    }
    const n = high.shape[0],
      h = high.shape[2],
      w = high.shape[3];
    const fits =
      !!low &&
      low.ndim === 4 &&
      low.shape[0] === n &&
      low.shape[1] === this.inLow &&
      low.shape[2] === Math.floor(h / 2) &&
      low.shape[3] === Math.floor(w / 2);
    if (!fits) {
      const expected = [n, this.inLow, Math.floor(h / 2), Math.floor(w / 2)];
      throw new ShapeError(
        `${where}: expected the low band of shape ${shapeString(expected)} (half the high band's size) but received ${low ? shapeString(low.shape) : 'null'}`,
      );
    }
  }

  private log(stage: string, high: Tensor, low: Tensor | null): void {
    if (!this.trace) return;
    this.trace(`${this.traceName} ${stage} high ${shapeString(high.shape)}`);
    this.trace(`${this.traceName} ${stage} low ${low ? shapeString(low.shape) : 'none'}`);
  }
}

/** OctaveConv2d + a BatchNorm per band + ReLU (optional). */
export class OctaveConvBlock extends Module {
  conv: OctaveConv2d;
  bnHigh: BatchNorm2d | null;
  bnLow: BatchNorm2d | null;
  private readonly activation: boolean;

  constructor(inChannels: number, outChannels: number, options: OctaveConv2dOptions & { activation?: boolean }) {
    super();
    expectOptionsObject('OctaveConvBlock', options, '{ kernelSize, alphaIn, alphaOut }');
    const { activation, ...convOptions } = options;
    this.conv = new OctaveConv2d(inChannels, outChannels, { ...convOptions, bias: false });
    this.bnHigh = this.conv.outHigh > 0 ? new BatchNorm2d(this.conv.outHigh) : null;
    this.bnLow = this.conv.outLow > 0 ? new BatchNorm2d(this.conv.outLow) : null;
    this.activation = activation ?? true;
  }

  forward(bands: OctaveBands | Tensor): OctaveBands {
    if (this.foldable()) return this.conv.foldedForward(bands, this.bnHigh!, this.bnLow, this.activation);
    const [high, low] = this.conv.forward(bands);
    let h = this.bnHigh ? this.bnHigh.forward(high) : high;
    let l = low && this.bnLow ? this.bnLow.forward(low) : null;
    if (this.activation) {
      h = ops.relu(h);
      l = l && ops.relu(l);
    }
    return [h, l];
  }

  /**
   * Whether the eval path with the BatchNorms folded into the convs applies (conv.foldedForward):
   * canFold for every conv and its band's BatchNorm (eval mode, running statistics, CPU weights,
   * nothing recording), and the shapes it handles: one group, no conv biases, a high band fed
   * by h2h.
   */
  private foldable(): boolean {
    const { h2h, h2l, l2h, l2l } = this.conv;
    return (
      h2h !== null &&
      foldsInto(h2h, this.bnHigh) &&
      foldsInto(l2h, this.bnHigh) &&
      foldsInto(l2l, this.bnLow) &&
      foldsInto(h2l, this.bnLow)
    );
  }
}

/** An absent conv, or one whose band's BatchNorm folds into it (OctaveConvBlock.foldable). */
function foldsInto(conv: Conv2d | null, bn: BatchNorm2d | null): boolean {
  return !conv || (bn !== null && conv.groups === 1 && conv.bias === null && canFold(conv, bn));
}

/**
 * One tensor -> band pair: the last round(alpha*C) channels, average-pooled 2x2, become the
 * low band.
 */
export function splitBands(x: Tensor, alpha: number): OctaveBands {
  if (!(x instanceof Tensor) || x.ndim !== 4) {
    throw new ShapeError(
      `splitBands: expected x of shape [N, C, H, W] but received ${x instanceof Tensor ? shapeString(x.shape) : describe(x)}`,
    );
  }
  checkAlpha('splitBands', 'alpha', alpha);
  const c = x.shape[1];
  const low = lowChannels(c, alpha);
  if (low === 0) return [x, null];
  if (low === c) throw new ArgumentError('splitBands: alpha = 1 leaves no high band');
  const [high, lowFull] = ops.split(x, [c - low, low], 1);
  return [high, downsample(lowFull)];
}

/** Band pair -> one tensor: the low band upsampled (nearest) to the high size, then concatenated. */
export function mergeBands(bands: OctaveBands): Tensor {
  if (!Array.isArray(bands) || !(bands[0] instanceof Tensor) || !(bands[1] === null || bands[1] instanceof Tensor)) {
    throw new ArgumentError(
      `mergeBands: expected bands to be a pair [high, low | null] of Tensors but received ${describe(bands)}`,
    );
  }
  const [high, low] = bands;
  if (!low) return high;
  const up = ops.interpolate(low, { size: [high.shape[2], high.shape[3]], mode: 'nearest' });
  return ops.concat([high, up], 1);
}
