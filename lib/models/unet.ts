/**
 * U-Net (Ronneberger et al. 2015) for segmentation: an encoder of double-conv blocks and 2x2
 * max pools, a decoder of 2x2 stride-2 transposed convolutions whose outputs are concatenated
 * with the encoder features of the same resolution (skip connections), and a 1x1 classifier.
 * Padded 3x3 convs, so the output has the input's size; H and W must be divisible by 2^depth.
 *
 *   unet({ inChannels: 3, numClasses: 11, baseChannels: 16, depth: 3, conv: { kind: 'deform', stages: [3, 4] } })
 *
 * `conv` chooses the 3x3 conv kind per level: depth + 1 levels (the encoder levels, then the
 * bottleneck); each decoder level uses the kind of the encoder level it mirrors.
 */
import { checkInt, checkOptionKeys, shapeString } from '../check';
import { ArgumentError, describe, ShapeError } from '../errors';
import { BatchNorm2d, Conv2d, ConvTranspose2d, MaxPool2d, Module, ReLU, Sequential } from '../nn';
import { convBnAct } from '../nn/fold';
import * as ops from '../ops';
import { Tensor } from '../tensor';
import { ConvChoice, ConvKindName, convPerStage, makeConv } from './conv_factory';

export interface UNetOptions {
  inChannels?: number;
  /** Output classes per pixel (default 2). */
  numClasses?: number;
  /** Channels of the first level (default 64); each level down doubles them. */
  baseChannels?: number;
  /** Number of down-sampling steps (default 4). */
  depth?: number;
  conv?: ConvChoice;
}

/** (3x3 conv -> BatchNorm -> ReLU) twice. */
export class DoubleConv extends Sequential {
  constructor(inChannels: number, outChannels: number, conv: ConvKindName) {
    super(
      makeConv(conv, inChannels, outChannels, { kernelSize: 3, stride: 1, padding: 1, bias: false }),
      new BatchNorm2d(outChannels),
      new ReLU(),
      makeConv(conv, outChannels, outChannels, { kernelSize: 3, stride: 1, padding: 1, bias: false }),
      new BatchNorm2d(outChannels),
      new ReLU(),
    );
  }

  /** The six layers in order; at inference each conv -> bn -> relu runs folded and fused (lib/nn/fold.ts). */
  override forward(x: Tensor): Tensor {
    const y = convBnAct(this.get(0), this.get(1) as BatchNorm2d, x, { relu: true });
    return convBnAct(this.get(3), this.get(4) as BatchNorm2d, y, { relu: true });
  }
}

/** Transposed-conv upsampling, concatenation with the skip features, double conv. */
export class UpBlock extends Module {
  readonly up: ConvTranspose2d;
  readonly conv: DoubleConv;

  constructor(inChannels: number, outChannels: number, conv: ConvKindName) {
    super();
    this.up = new ConvTranspose2d(inChannels, outChannels, { kernelSize: 2, stride: 2 });
    this.conv = new DoubleConv(2 * outChannels, outChannels, conv);
  }

  forward(x: Tensor, skip: Tensor): Tensor {
    return this.conv.forward(ops.concat([skip, this.up.forward(x)], 1));
  }
}

export class UNet extends Module {
  readonly inc: DoubleConv;
  readonly downs: DoubleConv[];
  readonly ups: UpBlock[];
  readonly outc: Conv2d;
  readonly pool: MaxPool2d;
  readonly depth: number;
  readonly levelConvs: readonly string[];

  constructor(options: UNetOptions = {}) {
    super();
    const where = 'UNet';
    checkOptionKeys(where, options, ['inChannels', 'numClasses', 'baseChannels', 'depth', 'conv']);
    const inChannels = checkInt(where, 'inChannels', options.inChannels ?? 3, 1);
    const numClasses = checkInt(where, 'numClasses', options.numClasses ?? 2, 1);
    const base = checkInt(where, 'baseChannels', options.baseChannels ?? 64, 1);
    const depth = checkInt(where, 'depth', options.depth ?? 4, 1);
    const convs = convPerStage(where, options.conv ?? 'standard', depth + 1);
    this.depth = depth;
    this.levelConvs = convs;
    this.inc = new DoubleConv(inChannels, base, convs[0]);
    this.pool = new MaxPool2d({ kernelSize: 2, stride: 2 });
    this.downs = [];
    this.ups = [];
    for (let l = 1; l <= depth; l++) this.downs.push(new DoubleConv(base * 2 ** (l - 1), base * 2 ** l, convs[l]));
    for (let l = depth; l >= 1; l--) this.ups.push(new UpBlock(base * 2 ** l, base * 2 ** (l - 1), convs[l - 1]));
    this.outc = new Conv2d(base, numClasses, { kernelSize: 1 });
  }

  /** [N, inChannels, H, W] -> [N, numClasses, H, W] logits. */
  forward(x: Tensor): Tensor {
    const f = 2 ** this.depth;
    if (!(x instanceof Tensor)) {
      throw new ArgumentError(`UNet.forward: expected input to be a Tensor but received ${describe(x)}`);
    }
    if (x.shape.length !== 4 || x.shape[2] % f !== 0 || x.shape[3] % f !== 0) {
      throw new ShapeError(
        `UNet.forward: expected input [N, C, H, W] with H and W divisible by ${f} (2^depth) but received ${shapeString(x.shape)}`,
      );
    }
    const skips: Tensor[] = [this.inc.forward(x)];
    for (const down of this.downs) skips.push(down.forward(this.pool.forward(skips[skips.length - 1])));
    let y = skips.pop() as Tensor;
    for (const up of this.ups) y = up.forward(y, skips.pop() as Tensor);
    return this.outc.forward(y);
  }
}

export function unet(options: UNetOptions = {}): UNet {
  return new UNet(options);
}
