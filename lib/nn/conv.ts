/**
 * Conv2d and ConvTranspose2d layers (torch.nn.Conv2d / ConvTranspose2d): PyTorch's weight
 * layouts, default initialisation and state-dict keys ('weight', 'bias').
 *
 *   new Conv2d(3, 16, { kernelSize: 3, padding: 1 })   or   new Conv2d(3, 16, 3, { padding: 1 })
 */
import { checkInt, checkOptionKeys, checkPair, shapeString } from '../check';
import { ArgumentError, describe, ShapeError } from '../errors';
import * as ops from '../ops';
import { Tensor } from '../tensor';
import { inferenceReady, packedOwnWeight } from './inference_weights';
import { resetConvLinear } from './init';
import { Module } from './module';
import { Parameter } from './parameter';

type Pair = number | [number, number];

export interface Conv2dOptions {
  kernelSize: Pair;
  stride?: Pair;
  /** A number, an [h, w] pair, 'valid' or 'same'. */
  padding?: Pair | 'valid' | 'same';
  dilation?: Pair;
  groups?: number;
  bias?: boolean;
}

export interface ConvTranspose2dOptions {
  kernelSize: Pair;
  stride?: Pair;
  padding?: Pair;
  outputPadding?: Pair;
  dilation?: Pair;
  groups?: number;
  bias?: boolean;
}

/** Conv2d / ConvTranspose2d printouts as PyTorch's: defaults left out, so different convs print differently. */
function convRepr(
  c: {
    inChannels: number;
    outChannels: number;
    kernelSize: [number, number];
    stride: [number, number];
    dilation: [number, number];
    groups: number;
    bias: unknown;
  },
  padding: string,
  outputPadding: [number, number] | null,
): string {
  const parts = [
    `${c.inChannels}, ${c.outChannels}`,
    `kernelSize=${shapeString(c.kernelSize)}`,
    `stride=${shapeString(c.stride)}`,
  ];
  if (padding !== '[0, 0]') parts.push(`padding=${padding}`);
  if (outputPadding && (outputPadding[0] || outputPadding[1]))
    parts.push(`outputPadding=${shapeString(outputPadding)}`);
  if (c.dilation[0] !== 1 || c.dilation[1] !== 1) parts.push(`dilation=${shapeString(c.dilation)}`);
  if (c.groups !== 1) parts.push(`groups=${c.groups}`);
  if (!c.bias) parts.push('bias=false');
  return parts.join(', ');
}

/** Accepts (in, out, { kernelSize, ... }) and PyTorch's (in, out, kernelSize, { ... }). */
function resolveOptions<O extends { kernelSize: Pair }>(
  where: string,
  third: Pair | O,
  fourth?: Omit<O, 'kernelSize'>,
): O {
  if (typeof third === 'number' || Array.isArray(third)) return { ...(fourth ?? {}), kernelSize: third } as O;
  if (third === null || typeof third !== 'object') {
    throw new ArgumentError(
      `${where}: expected options to be an object with kernelSize but received ${describe(third)}`,
    );
  }
  return third;
}

function checkChannels(where: string, inChannels: number, outChannels: number, groups: number): void {
  checkInt(where, 'inChannels', inChannels, 1);
  checkInt(where, 'outChannels', outChannels, 1);
  checkInt(where, 'groups', groups, 1);
  if (inChannels % groups !== 0 || outChannels % groups !== 0) {
    throw new ArgumentError(
      `${where}: expected inChannels (${inChannels}) and outChannels (${outChannels}) to be divisible by groups but received groups ${groups}`,
    );
  }
}

/** ShapeError unless x is [N, channels, H, W]. */
export function checkInputChannels(where: string, x: Tensor, channels: number): void {
  if (!(x instanceof Tensor))
    throw new ArgumentError(`${where}: expected input to be a Tensor but received ${describe(x)}`);
  if (x.ndim !== 4 || x.shape[1] !== channels) {
    throw new ShapeError(
      `${where}: expected input of shape [N, ${channels}, H, W] (${channels} channels) but received ${shapeString(x.shape)}`,
    );
  }
}

export class Conv2d extends Module {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number] | 'valid' | 'same';
  readonly dilation: [number, number];
  readonly groups: number;
  weight: Parameter;
  bias: Parameter | null;

  constructor(inChannels: number, outChannels: number, options: Conv2dOptions);
  constructor(inChannels: number, outChannels: number, kernelSize: Pair, options?: Omit<Conv2dOptions, 'kernelSize'>);
  constructor(
    inChannels: number,
    outChannels: number,
    third: Pair | Conv2dOptions,
    fourth?: Omit<Conv2dOptions, 'kernelSize'>,
  ) {
    super();
    const o = resolveOptions<Conv2dOptions>('Conv2d', third, fourth);
    checkOptionKeys('Conv2d', o, ['kernelSize', 'stride', 'padding', 'dilation', 'groups', 'bias']);
    this.groups = o.groups ?? 1;
    checkChannels('Conv2d', inChannels, outChannels, this.groups);
    this.inChannels = inChannels;
    this.outChannels = outChannels;
    this.kernelSize = checkPair('Conv2d', 'kernelSize', o.kernelSize, 1);
    this.stride = checkPair('Conv2d', 'stride', o.stride ?? 1, 1);
    const padding = o.padding ?? 0;
    this.padding = padding === 'valid' || padding === 'same' ? padding : checkPair('Conv2d', 'padding', padding, 0);
    this.dilation = checkPair('Conv2d', 'dilation', o.dilation ?? 1, 1);
    const [kh, kw] = this.kernelSize;
    this.weight = new Parameter(Tensor.empty([outChannels, inChannels / this.groups, kh, kw]));
    this.bias = (o.bias ?? true) ? new Parameter(Tensor.empty([outChannels])) : null;
    this.resetParameters();
  }

  /** PyTorch's default: kaiming_uniform_(a=sqrt(5)) weight, U(+-1/sqrt(fanIn)) bias. */
  resetParameters(): void {
    resetConvLinear(this.weight, this.bias);
  }

  forward(x: Tensor): Tensor {
    return this.forwardWithRelu(x, false);
  }

  /**
   * forward, then ReLU when `relu`; at inference the ReLU runs in the conv's output pass
   * (nn.Sequential's Conv2d -> ReLU runs).
   * @internal
   */
  forwardWithRelu(x: Tensor, relu: boolean): Tensor {
    checkInputChannels('Conv2d', x, this.inChannels);
    if (typeof this.padding !== 'string' && inferenceReady(this)) {
      // Eval-mode inference: the weight packed once for every call (lib/nn/inference_weights).
      return ops.conv2dFused(x, this.weight, {
        bias: this.bias,
        stride: this.stride,
        padding: this.padding,
        dilation: this.dilation,
        groups: this.groups,
        relu,
        packed: packedOwnWeight(this, this.weight, this.groups),
      });
    }
    const y = ops.conv2d(x, this.weight, {
      bias: this.bias,
      stride: this.stride,
      padding: this.padding,
      dilation: this.dilation,
      groups: this.groups,
    });
    return relu ? ops.relu(y) : y;
  }

  /** PyTorch's repr: the options that differ from their defaults (padding, dilation, groups, bias). */
  protected override extraRepr(): string {
    return convRepr(this, typeof this.padding === 'string' ? `'${this.padding}'` : shapeString(this.padding), null);
  }
}

export class ConvTranspose2d extends Module {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly outputPadding: [number, number];
  readonly dilation: [number, number];
  readonly groups: number;
  weight: Parameter;
  bias: Parameter | null;

  constructor(inChannels: number, outChannels: number, options: ConvTranspose2dOptions);
  constructor(
    inChannels: number,
    outChannels: number,
    kernelSize: Pair,
    options?: Omit<ConvTranspose2dOptions, 'kernelSize'>,
  );
  constructor(
    inChannels: number,
    outChannels: number,
    third: Pair | ConvTranspose2dOptions,
    fourth?: Omit<ConvTranspose2dOptions, 'kernelSize'>,
  ) {
    super();
    const o = resolveOptions<ConvTranspose2dOptions>('ConvTranspose2d', third, fourth);
    checkOptionKeys('ConvTranspose2d', o, [
      'kernelSize',
      'stride',
      'padding',
      'outputPadding',
      'dilation',
      'groups',
      'bias',
    ]);
    this.groups = o.groups ?? 1;
    checkChannels('ConvTranspose2d', inChannels, outChannels, this.groups);
    this.inChannels = inChannels;
    this.outChannels = outChannels;
    this.kernelSize = checkPair('ConvTranspose2d', 'kernelSize', o.kernelSize, 1);
    this.stride = checkPair('ConvTranspose2d', 'stride', o.stride ?? 1, 1);
    this.padding = checkPair('ConvTranspose2d', 'padding', o.padding ?? 0, 0);
    this.outputPadding = checkPair('ConvTranspose2d', 'outputPadding', o.outputPadding ?? 0, 0);
    this.dilation = checkPair('ConvTranspose2d', 'dilation', o.dilation ?? 1, 1);
    const [kh, kw] = this.kernelSize;
    // PyTorch's transposed layout: [in, out / groups, kh, kw].
    this.weight = new Parameter(Tensor.empty([inChannels, outChannels / this.groups, kh, kw]));
    this.bias = (o.bias ?? true) ? new Parameter(Tensor.empty([outChannels])) : null;
    this.resetParameters();
  }

  /** PyTorch's default (its fan-in is computed from weight dim 1, as for Conv2d). */
  resetParameters(): void {
    resetConvLinear(this.weight, this.bias);
  }

  forward(x: Tensor): Tensor {
    checkInputChannels('ConvTranspose2d', x, this.inChannels);
    return ops.convTranspose2d(x, this.weight, {
      bias: this.bias,
      stride: this.stride,
      padding: this.padding,
      outputPadding: this.outputPadding,
      dilation: this.dilation,
      groups: this.groups,
    });
  }

  protected override extraRepr(): string {
    return convRepr(this, shapeString(this.padding), this.outputPadding);
  }
}
