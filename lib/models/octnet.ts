/** OctNet: a small octave-convolution classifier (lib/nn/octave.ts holds the layers). */
import { checkInt, expectOptionsObject, shapeString } from '../check';
import { BatchNorm2d } from '../nn/normalization';
import { Conv2d } from '../nn/conv';
import { convBnAct } from '../nn/fold';
import { Module } from '../nn/module';
import { checkAlpha, mergeBands, OctaveBands, OctaveConvBlock, TraceFn, traceFn } from '../nn/octave';
import * as ops from '../ops';
import type { Tensor } from '../tensor';

export interface OctNetOptions {
  inChannels?: number;
  numClasses?: number;
  /** Channels of each stage; every stage after the first halves the resolution. */
  widths?: number[];
  blocksPerStage?: number;
  alpha?: number;
  trace?: boolean | TraceFn;
}

/**
 * A small octave network: standard stem conv, octave blocks (the first splits off the low
 * band with alphaIn = 0, the last merges back with alphaOut = 0), global pooling and a linear
 * head. Sized for 32x32 inputs.
 */
export class OctNet extends Module {
  stem: Conv2d;
  stemBn: BatchNorm2d;
  blocks: OctaveConvBlock[];
  head: Conv2d;
  readonly numClasses: number;
  private readonly trace: TraceFn | null;

  constructor(options: OctNetOptions = {}) {
    super();
    expectOptionsObject('OctNet', options);
    const inChannels = checkInt('OctNet', 'inChannels', options.inChannels ?? 3, 1);
    this.numClasses = checkInt('OctNet', 'numClasses', options.numClasses ?? 10, 1);
    const widths = options.widths ?? [32, 64, 128];
    const perStage = checkInt('OctNet', 'blocksPerStage', options.blocksPerStage ?? 2, 1);
    const alpha = checkAlpha('OctNet', 'alpha', options.alpha ?? 0.5);
    this.trace = traceFn(options.trace);
    this.stem = new Conv2d(inChannels, widths[0], { kernelSize: 3, padding: 1, bias: false });
    this.stemBn = new BatchNorm2d(widths[0]);
    this.blocks = [];
    let channels = widths[0];
    const total = widths.length * perStage;
    widths.forEach((width, stage) => {
      for (let b = 0; b < perStage; b++) {
        const index = this.blocks.length;
        const block = new OctaveConvBlock(channels, width, {
          kernelSize: 3,
          padding: 1,
          stride: stage > 0 && b === 0 ? 2 : 1,
          alphaIn: index === 0 ? 0 : alpha,
          alphaOut: index === total - 1 ? 0 : alpha,
          trace: options.trace,
        });
        block.conv.traceName = `blocks.${index}`;
        this.blocks.push(block);
        channels = width;
      }
    });
    // The classifier is a 1x1 conv on the pooled features (a Linear with conv weights).
    this.head = new Conv2d(channels, this.numClasses, { kernelSize: 1 });
  }

  forward(x: Tensor): Tensor {
    // (Folded in eval inference, like the octave blocks: lib/nn/fold.ts.)
    let bands: OctaveBands = [convBnAct(this.stem, this.stemBn, x, { relu: true }), null];
    for (const block of this.blocks) bands = block.forward(bands);
    const pooled = ops.adaptiveAvgPool2d(mergeBands(bands), 1);
    const logits = this.head.forward(pooled);
    this.trace?.(`head logits ${shapeString([logits.shape[0], logits.shape[1]])}`);
    return ops.flatten(logits, 1);
  }
}
