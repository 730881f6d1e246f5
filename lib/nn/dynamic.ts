/**
 * Dynamic convolution layers (CondConv, Yang et al. 2019; DY-Conv, Chen et al. 2020).
 *
 *   DynamicConv2d   K expert kernels mixed per sample by attention computed from the input:
 *                   global average pool -> Linear(C, hidden) -> ReLU -> Linear(hidden, K) ->
 *                   softmax(logits / temperature) (DY-Conv) or sigmoid(logits / temperature)
 *                   (CondConv), then one batched ops.dynamicConv2d.
 *   DynamicConvBlock   DynamicConv2d (no bias) + BatchNorm2d + ReLU.
 *   DynamicNet      a small classifier: stem conv, three stride-2 dynamic stages, global
 *                   pool, linear head (the shape of the small nets in the DY-Conv paper).
 *   linearTemperature / TemperatureSchedule   DY-Conv's annealing of the softmax temperature
 *                   (30 -> 1 over the first epochs), applied to every DynamicConv2d of a model.
 *
 * State-dict keys: `weight` [K, out, in/groups, kh, kw], `bias` [K, out], `attention.fc1.*`,
 * `attention.fc2.*`.
 */
import { checkInt, checkNumber, checkOneOf, checkPair, shapeString } from '../check';
import { ArgumentError, describe } from '../errors';
import * as ops from '../ops';
import { Tensor } from '../tensor';
import { checkInputChannels } from './conv';
import { resetConvLinear } from './init';
import { Linear } from './linear';
import { Module } from './module';
import { BatchNorm2d } from './normalization';
import { Parameter } from './parameter';

type Pair = number | [number, number];

export type DynamicRouting = 'softmax' | 'sigmoid';

export interface DynamicConv2dOptions {
  kernelSize: Pair;
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  groups?: number;
  /** Number of expert kernels K (default 4). */
  experts?: number;
  /** The routing MLP's hidden width is max(minHidden, floor(inChannels / reduction)) (default 4). */
  reduction?: number;
  /** Smallest hidden width of the routing MLP (default 4). */
  minHidden?: number;
  /** Divides the routing logits (default 1). DY-Conv trains with 30 annealed to 1: see TemperatureSchedule. */
  temperature?: number;
  /** 'softmax' (DY-Conv, weights sum to 1) or 'sigmoid' (CondConv, independent weights). Default 'softmax'. */
  routing?: DynamicRouting;
  /** Per-expert biases [K, out] (default true, like Conv2d). */
  bias?: boolean;
}

/** The routing MLP: [B, C, H, W] -> routing logits [B, K]. */
export class DynamicAttention extends Module {
  fc1: Linear;
  fc2: Linear;

  constructor(inChannels: number, hidden: number, experts: number) {
    super();
    this.fc1 = new Linear(inChannels, hidden);
    this.fc2 = new Linear(hidden, experts);
  }

  forward(x: Tensor): Tensor {
    const pooled = ops.mean(x, [2, 3]);
    return this.fc2.forward(ops.relu(this.fc1.forward(pooled)));
  }
}

export class DynamicConv2d extends Module {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly dilation: [number, number];
  readonly groups: number;
  readonly experts: number;
  readonly routing: DynamicRouting;
  weight: Parameter;
  bias: Parameter | null;
  attention: DynamicAttention;
  private temperatureValue: number;

  constructor(inChannels: number, outChannels: number, options: DynamicConv2dOptions) {
    super();
    const where = 'DynamicConv2d';
    if (options === null || typeof options !== 'object' || Array.isArray(options)) {
      throw new ArgumentError(
        `${where}: expected options to be an object with kernelSize but received ${describe(options)}`,
      );
    }
    this.inChannels = checkInt(where, 'inChannels', inChannels, 1);
    this.outChannels = checkInt(where, 'outChannels', outChannels, 1);
    this.groups = checkInt(where, 'groups', options.groups ?? 1, 1);
    if (inChannels % this.groups !== 0 || outChannels % this.groups !== 0) {
      throw new ArgumentError(
        `${where}: expected inChannels (${inChannels}) and outChannels (${outChannels}) to be divisible by groups but received groups ${this.groups}`,
      );
    }
    this.kernelSize = checkPair(where, 'kernelSize', options.kernelSize, 1);
    this.stride = checkPair(where, 'stride', options.stride ?? 1, 1);
    this.padding = checkPair(where, 'padding', options.padding ?? 0, 0);
    this.dilation = checkPair(where, 'dilation', options.dilation ?? 1, 1);
    this.experts = checkInt(where, 'experts', options.experts ?? 4, 1);
    const reduction = checkInt(where, 'reduction', options.reduction ?? 4, 1);
    const minHidden = checkInt(where, 'minHidden', options.minHidden ?? 4, 1);
    this.routing = checkOneOf(where, 'routing', options.routing ?? 'softmax', ['softmax', 'sigmoid'] as const);
    this.temperatureValue = 1;
    this.temperature = options.temperature ?? 1;
    const [kh, kw] = this.kernelSize;
    const K = this.experts;
    this.weight = new Parameter(Tensor.empty([K, outChannels, inChannels / this.groups, kh, kw]));
    this.bias = (options.bias ?? true) ? new Parameter(Tensor.empty([K, outChannels])) : null;
    this.attention = new DynamicAttention(inChannels, Math.max(minHidden, Math.floor(inChannels / reduction)), K);
    this.resetParameters();
  }

  /** Softmax / sigmoid temperature; set it at any time (e.g. by a TemperatureSchedule). */
  get temperature(): number {
    return this.temperatureValue;
  }

  set temperature(t: number) {
    checkNumber('DynamicConv2d', 'temperature', t);
    if (!(t > 0))
      throw new ArgumentError(`DynamicConv2d: expected temperature to be a positive number but received ${t}`);
    this.temperatureValue = t;
  }

  /** Each expert like a Conv2d of its own: kaiming_uniform_(a=sqrt(5)), bias U(+-1/sqrt(fanIn)). */
  resetParameters(): void {
    const [K, O] = [this.experts, this.outChannels];
    const perExpert = this.weight.numel / K;
    for (let k = 0; k < K; k++) {
      const w = Tensor.empty(this.weight.shape.slice(1));
      const b = this.bias ? Tensor.empty([O]) : null;
      resetConvLinear(w, b);
      this.weight.data.set(w.data, k * perExpert);
      if (b && this.bias) this.bias.data.set(b.data, k * O);
      w.dispose();
      b?.dispose();
    }
  }

  /** Routing weights [B, K] for an input [B, C, H, W] (what forward mixes the experts with). */
  routingWeights(x: Tensor): Tensor {
    checkInputChannels('DynamicConv2d', x, this.inChannels);
    const logits = this.attention.forward(x);
    const scaled = this.temperatureValue === 1 ? logits : ops.scale(logits, 1 / this.temperatureValue);
    return this.routing === 'softmax' ? ops.softmax(scaled, 1) : ops.sigmoid(scaled);
  }

  forward(x: Tensor): Tensor {
    const attention = this.routingWeights(x);
    return ops.dynamicConv2d(x, this.weight, attention, {
      expertBias: this.bias,
      stride: this.stride,
      padding: this.padding,
      dilation: this.dilation,
      groups: this.groups,
    });
  }

  protected override extraRepr(): string {
    return `${this.inChannels}, ${this.outChannels}, kernelSize=${shapeString(this.kernelSize)}, stride=${shapeString(this.stride)}, experts=${this.experts}, routing=${this.routing}, temperature=${this.temperatureValue}`;
  }
}

export type DynamicConvBlockOptions = Omit<DynamicConv2dOptions, 'bias'>;

/** DynamicConv2d (no bias: the BatchNorm shift replaces it) + BatchNorm2d + ReLU. */
export class DynamicConvBlock extends Module {
  conv: DynamicConv2d;
  bn: BatchNorm2d;

  constructor(inChannels: number, outChannels: number, options: DynamicConvBlockOptions) {
    super();
    this.conv = new DynamicConv2d(inChannels, outChannels, { ...options, bias: false });
    this.bn = new BatchNorm2d(outChannels);
  }

  forward(x: Tensor): Tensor {
    return ops.relu(this.bn.forward(this.conv.forward(x)));
  }
}

/** Every DynamicConv2d inside `model` (itself included). */
export function dynamicConvLayers(model: Module): DynamicConv2d[] {
  if (!(model instanceof Module)) {
    throw new ArgumentError(`dynamicConvLayers: expected model to be a Module but received ${describe(model)}`);
  }
  const found: DynamicConv2d[] = [];
  const visit = (m: Module): void => {
    if (m instanceof DynamicConv2d) found.push(m);
    for (const child of m.children()) visit(child);
  };
  visit(model);
  return found;
}

/** Sets the routing temperature of every DynamicConv2d inside `model`; returns how many. */
export function setTemperature(model: Module, temperature: number): number {
  if (!(model instanceof Module)) {
    throw new ArgumentError(`setTemperature: expected model to be a Module but received ${describe(model)}`);
  }
  const layers = dynamicConvLayers(model);
  for (const l of layers) l.temperature = temperature;
  return layers.length;
}
