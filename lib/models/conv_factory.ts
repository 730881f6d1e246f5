/**
 * The conv factory behind every model: one name per kind of convolution, so the same
 * architecture can be built with plain, deformable (DCNv1), modulated deformable (DCNv2) or
 * dynamic convolutions, or octave convolutions (as a per-layer adapter), and per stage (DCN
 * papers use deformable convolutions only in the last stages).
 *
 * Every factory takes (inChannels, outChannels, { kernelSize, stride, padding, bias }) and
 * returns a Module mapping [N, C, H, W] to [N, O, H', W'] with Conv2d's output size, whose
 * main weight is `weight` (so a plain checkpoint loads into the deformable variant with
 * strict: false, leaving only the offset branches at their zero start).
 */
import { ArgumentError, describe } from '../errors';
import { Conv2d } from '../nn/conv';
import { DeformConv2d, ModulatedDeformConv2d } from '../nn/deform';
import { DynamicConv2d } from '../nn/dynamic';
import { Module } from '../nn/module';
import { mergeBands, OctaveConv2d, splitBands } from '../nn/octave';
import type { Tensor } from '../tensor';

export const CONV_KINDS = ['standard', 'deform', 'modulated', 'dynamic', 'octave'] as const;
/** The built-in conv kinds. */
export type ConvKind = (typeof CONV_KINDS)[number];

declare const registered: unique symbol;
/** A conv kind added with registerConv(): its return value, a name the type system knows was registered. */
export type RegisteredConvKind = string & { readonly [registered]: true };
/**
 * What models accept as a conv kind: a built-in name (a typo such as 'deformm' does not compile)
 * or a registered one.
 */
export type ConvKindName = ConvKind | RegisteredConvKind;

export interface ConvSpec {
  kernelSize: number;
  stride: number;
  padding: number;
  bias: boolean;
}

export type ConvFactory = (inChannels: number, outChannels: number, spec: ConvSpec) => Module;

/**
 * Octave convolution as a drop-in conv: the input is split into a high band and a half-
 * resolution low band (the last alpha of the channels), the four octave paths run, and the
 * bands are merged back (low band upsampled, concatenated). The low-band convolutions run at a
 * quarter of the pixels; a network that keeps the bands between layers (lib/nn/octave's OctNet)
 * also saves the split and merge.
 */
export class OctaveConvAdapter extends Module {
  readonly conv: Module;

  constructor(
    inChannels: number,
    outChannels: number,
    spec: ConvSpec,
    readonly alpha = 0.5,
  ) {
    super();
    if (spec === null || typeof spec !== 'object') {
      throw new ArgumentError(
        `OctaveConvAdapter: expected spec to be a conv spec { kernelSize, stride, padding, bias } but received ${describe(spec)}`,
      );
    }
    this.conv = new OctaveConv2d(inChannels, outChannels, {
      kernelSize: spec.kernelSize,
      stride: spec.stride as 1 | 2, // OctaveConv2d refuses other strides with its own error
      padding: spec.padding,
      bias: spec.bias,
      alphaIn: alpha,
      alphaOut: alpha,
    });
  }

  forward(x: Tensor): Tensor {
    return mergeBands(this.conv.forward(splitBands(x, this.alpha)));
  }
}

const factories = new Map<string, ConvFactory>([
  [
    'standard',
    (i, o, s) => new Conv2d(i, o, { kernelSize: s.kernelSize, stride: s.stride, padding: s.padding, bias: s.bias }),
  ],
  ['deform', (i, o, s) => new DeformConv2d(i, o, { ...s })],
  ['modulated', (i, o, s) => new ModulatedDeformConv2d(i, o, { ...s })],
  ['dynamic', (i, o, s) => new DynamicConv2d(i, o, { ...s })],
  ['octave', (i, o, s) => new OctaveConvAdapter(i, o, s)],
]);

/**
 * Adds (or replaces) a conv kind, e.g. a user's own layer; returns the name typed as a
 * registered kind, to pass to models: `const mine = registerConv('mine', f); resnet18({ conv: mine })`.
 */
export function registerConv<K extends string>(kind: K, factory: ConvFactory): K & RegisteredConvKind {
  if (typeof kind !== 'string' || kind === '' || typeof factory !== 'function') {
    throw new ArgumentError(
      `registerConv: expected a non-empty kind name and a factory function but received ${describe(kind)}, ${describe(factory)}`,
    );
  }
  factories.set(kind, factory);
  return kind as K & RegisteredConvKind;
}

/** The registered kinds. */
export function convKinds(): string[] {
  return [...factories.keys()];
}

export function makeConv(kind: ConvKindName, inChannels: number, outChannels: number, spec: ConvSpec): Module {
  const f = factories.get(kind);
  if (!f) {
    throw new ArgumentError(
      `makeConv: expected conv kind to be one of ${[...factories.keys()].map((k) => `'${k}'`).join(', ')} but received ${describe(kind)}`,
    );
  }
  return f(inChannels, outChannels, spec);
}

/**
 * Expands a conv choice into one kind per stage: a single kind for all stages, an array with
 * one kind per stage, or { kind, stages } to use `kind` only in the listed (1-based) stages
 * and 'standard' elsewhere (e.g. { kind: 'deform', stages: [3, 4] }).
 */
export type ConvChoice = ConvKindName | readonly ConvKindName[] | { kind: ConvKindName; stages: readonly number[] };

/** Checks a kind name at run time (JavaScript callers, command lines): registered, or an ArgumentError. */
export function checkConvKind(where: string, name: string, kind: unknown): ConvKindName {
  if (typeof kind !== 'string' || !factories.has(kind)) {
    throw new ArgumentError(
      `${where}: expected ${name} to be one of ${[...factories.keys()].map((k) => `'${k}'`).join(', ')} but received ${describe(kind)}`,
    );
  }
  return kind as ConvKindName;
}

export function convPerStage(where: string, choice: ConvChoice, stages: number): ConvKindName[] {
  if (typeof choice === 'string') return new Array(stages).fill(checkConvKind(where, 'conv', choice));
  if (Array.isArray(choice)) {
    if (choice.length !== stages || !choice.every((c) => typeof c === 'string')) {
      throw new ArgumentError(
        `${where}: expected conv to list ${stages} kinds (one per stage) but received ${describe(choice)}`,
      );
    }
    return choice.map((c, i) => checkConvKind(where, `conv[${i}]`, c));
  }
  const c = choice as { kind: ConvKindName; stages: readonly number[] };
  if (c && typeof c === 'object' && typeof c.kind === 'string' && Array.isArray(c.stages)) {
    checkConvKind(where, 'conv.kind', c.kind);
    for (const s of c.stages) {
      if (!Number.isInteger(s) || s < 1 || s > stages) {
        throw new ArgumentError(
          `${where}: expected conv.stages to hold stage numbers in 1..${stages} but received ${describe(c.stages)}`,
        );
      }
    }
    return Array.from({ length: stages }, (_, i) => (c.stages.includes(i + 1) ? c.kind : 'standard'));
  }
  throw new ArgumentError(
    `${where}: expected conv to be a kind name, an array of ${stages} kinds or { kind, stages } but received ${describe(choice)}`,
  );
}
