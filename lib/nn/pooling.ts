/** Pooling layers over ops.maxPool2d / avgPool2d / adaptiveAvgPool2d (stride defaults to kernelSize). */
import * as ops from '../ops';
import { Tensor } from '../tensor';
import { Module } from './module';

type Pair = number | [number, number];

export interface MaxPool2dOptions {
  kernelSize: Pair;
  stride?: Pair | null;
  padding?: Pair;
  dilation?: Pair;
  ceilMode?: boolean;
}

export interface AvgPool2dOptions {
  kernelSize: Pair;
  stride?: Pair | null;
  padding?: Pair;
  ceilMode?: boolean;
  countIncludePad?: boolean;
}

function resolve<O extends { kernelSize: Pair }>(arg: Pair | O, rest?: Omit<O, 'kernelSize'>): O {
  return typeof arg === 'number' || Array.isArray(arg) ? ({ ...(rest ?? {}), kernelSize: arg } as O) : arg;
}

/** new MaxPool2d(2) or new MaxPool2d({ kernelSize: 3, stride: 2, padding: 1 }). */
export class MaxPool2d extends Module {
  readonly options: MaxPool2dOptions;

  constructor(kernelSize: Pair | MaxPool2dOptions, options?: Omit<MaxPool2dOptions, 'kernelSize'>) {
    super();
    this.options = resolve(kernelSize, options);
  }

  forward(x: Tensor): Tensor {
    return ops.maxPool2d(x, this.options);
  }
}

export class AvgPool2d extends Module {
  readonly options: AvgPool2dOptions;

  constructor(kernelSize: Pair | AvgPool2dOptions, options?: Omit<AvgPool2dOptions, 'kernelSize'>) {
    super();
    this.options = resolve(kernelSize, options);
  }

  forward(x: Tensor): Tensor {
    return ops.avgPool2d(x, this.options);
  }
}

/** Output of a fixed size whatever the input size: outputSize is a number or [h, w] (null keeps that size). */
export class AdaptiveAvgPool2d extends Module {
  constructor(readonly outputSize: number | [number | null, number | null]) {
    super();
  }

  forward(x: Tensor): Tensor {
    return ops.adaptiveAvgPool2d(x, this.outputSize);
  }
}
