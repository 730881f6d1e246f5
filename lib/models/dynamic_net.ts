/** DynamicNet: a small classifier of dynamic (CondConv / DY-Conv) blocks (layers in lib/nn/dynamic.ts). */
import { checkInt, expectOptionsObject } from '../check';
import { ArgumentError, describe } from '../errors';
import { Conv2d } from '../nn/conv';
import { DynamicConvBlock, DynamicRouting } from '../nn/dynamic';
import { Linear } from '../nn/linear';
import { Module } from '../nn/module';
import { BatchNorm2d } from '../nn/normalization';
import * as ops from '../ops';
import type { Tensor } from '../tensor';

export interface DynamicNetOptions {
  inChannels?: number;
  numClasses?: number;
  /** Stem width, then the width of each of the three stride-2 stages (default [16, 32, 64, 128]). */
  widths?: [number, number, number, number];
  /** Dynamic blocks per stage: the first has stride 2, the others stride 1 (default 1). */
  blocksPerStage?: number;
  experts?: number;
  reduction?: number;
  temperature?: number;
  routing?: DynamicRouting;
}

/** Stem conv + BN + ReLU, three stride-2 dynamic stages, global average pool, linear head. */
export class DynamicNet extends Module {
  stem: Conv2d;
  stemBn: BatchNorm2d;
  stages: DynamicConvBlock[];
  head: Linear;

  constructor(options: DynamicNetOptions = {}) {
    super();
    const where = 'DynamicNet';
    expectOptionsObject(where, options);
    const inChannels = checkInt(where, 'inChannels', options.inChannels ?? 3, 1);
    const numClasses = checkInt(where, 'numClasses', options.numClasses ?? 10, 1);
    const widths = options.widths ?? [16, 32, 64, 128];
    if (!Array.isArray(widths) || widths.length !== 4) {
      throw new ArgumentError(
        `${where}: expected widths to be an array of 4 positive integers but received ${describe(widths)}`,
      );
    }
    widths.forEach((w, i) => checkInt(where, `widths[${i}]`, w, 1));
    const blocks = checkInt(where, 'blocksPerStage', options.blocksPerStage ?? 1, 1);
    const dyn = {
      experts: options.experts,
      reduction: options.reduction,
      temperature: options.temperature,
      routing: options.routing,
    };
    this.stem = new Conv2d(inChannels, widths[0], { kernelSize: 3, padding: 1, bias: false });
    this.stemBn = new BatchNorm2d(widths[0]);
    this.stages = [];
    for (let s = 0; s < 3; s++) {
      for (let b = 0; b < blocks; b++) {
        const cin = b === 0 ? widths[s] : widths[s + 1];
        this.stages.push(
          new DynamicConvBlock(cin, widths[s + 1], { kernelSize: 3, padding: 1, stride: b === 0 ? 2 : 1, ...dyn }),
        );
      }
    }
    this.head = new Linear(widths[3], numClasses);
  }

  forward(x: Tensor): Tensor {
    let h = ops.relu(this.stemBn.forward(this.stem.forward(x)));
    for (const block of this.stages) h = block.forward(h);
    return this.head.forward(ops.mean(h, [2, 3]));
  }
}
