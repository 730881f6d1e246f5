/**
 * ResNet-18 and ResNet-34 (He et al. 2016) with torchvision's structure and state-dict keys
 * ('conv1.weight', 'layer2.0.downsample.0.weight', 'fc.bias', ...), so torchvision weights
 * saved as safetensors load directly into the standard variant, and the parameter counts
 * match torchvision's (ResNet-18, 1000 classes: 11,689,512).
 *
 * Two stems: 'imagenet' (7x7 stride-2 conv + 3x3 stride-2 max pool, for 224x224 inputs) and
 * 'cifar' (one 3x3 stride-1 conv, no pool, for 32x32 inputs, as in the CIFAR experiments).
 * Every 3x3 conv of the residual stages comes from the conv factory, per stage:
 *
 *   resnet18({ numClasses: 10, stem: 'cifar', conv: 'deform' })                      // all stages
 *   resnet34({ numClasses: 10, stem: 'cifar', conv: { kind: 'deform', stages: [3, 4] } })  // DCN style
 *
 * The stem and the 1x1 projection shortcuts stay plain convolutions, as in the DCN papers.
 */
import { checkInt, checkOneOf, checkOptionKeys, expectOptionsObject } from '../check';
import { ArgumentError, describe } from '../errors';
import { AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Linear, MaxPool2d, Module, Sequential } from '../nn';
import { convBnAct } from '../nn/fold';
import * as ops from '../ops';
import type { Tensor } from '../tensor';
import { ConvChoice, ConvKindName, convPerStage, makeConv } from './conv_factory';

export interface ResNetOptions {
  /** Output classes (default 1000). */
  numClasses?: number;
  /** Input channels (default 3). */
  inChannels?: number;
  /** 'imagenet' (default) or 'cifar'. */
  stem?: 'imagenet' | 'cifar';
  /** Kind of the 3x3 convolutions, per stage (default 'standard'). */
  conv?: ConvChoice;
  /** Channels of the first stage (default 64; stages double it). Smaller widths make quick models. */
  width?: number;
}

/** torchvision's BasicBlock: two 3x3 convs with batch norm, identity or 1x1 projection shortcut. */
export class BasicBlock extends Module {
  readonly conv1: Module;
  readonly bn1: BatchNorm2d;
  readonly conv2: Module;
  readonly bn2: BatchNorm2d;
  readonly downsample: Sequential | null;

  constructor(inChannels: number, channels: number, stride: number, conv: ConvKindName) {
    super();
    this.conv1 = makeConv(conv, inChannels, channels, { kernelSize: 3, stride, padding: 1, bias: false });
    this.bn1 = new BatchNorm2d(channels);
    this.conv2 = makeConv(conv, channels, channels, { kernelSize: 3, stride: 1, padding: 1, bias: false });
    this.bn2 = new BatchNorm2d(channels);
    this.downsample =
      stride !== 1 || inChannels !== channels
        ? new Sequential<Module>(
            new Conv2d(inChannels, channels, { kernelSize: 1, stride, bias: false }),
            new BatchNorm2d(channels),
          )
        : null;
  }

  forward(x: Tensor): Tensor {
    // convBnAct is conv -> bn -> (+ identity) -> relu; at inference it folds the batch norm
    // into the conv and fuses the add and ReLU into the conv's output pass (lib/nn/fold.ts).
    const out = convBnAct(this.conv1, this.bn1, x, { relu: true });
    const identity = this.downsample ? convBnAct(this.downsample.get(0), this.downsample.get(1) as BatchNorm2d, x) : x;
    return convBnAct(this.conv2, this.bn2, out, { residual: identity, relu: true });
  }
}

export class ResNet extends Module {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly maxpool: MaxPool2d | null;
  readonly layer1: Sequential<BasicBlock>;
  readonly layer2: Sequential<BasicBlock>;
  readonly layer3: Sequential<BasicBlock>;
  readonly layer4: Sequential<BasicBlock>;
  readonly avgpool: AdaptiveAvgPool2d;
  readonly fc: Linear;
  /** The conv kind of each stage, for reports. */
  readonly stageConvs: readonly string[];

  constructor(blocks: readonly [number, number, number, number], options: ResNetOptions = {}) {
    super();
    const where = 'ResNet';
    if (!Array.isArray(blocks) || blocks.length !== 4) {
      throw new ArgumentError(
        `${where}: expected blocks to be 4 block counts, one per stage, but received ${describe(blocks)}`,
      );
    }
    blocks.forEach((b, i) => checkInt(where, `blocks[${i}]`, b, 1));
    expectOptionsObject(where, options);
    checkOptionKeys(where, options, ['numClasses', 'inChannels', 'stem', 'conv', 'width']);
    const numClasses = checkInt(where, 'numClasses', options.numClasses ?? 1000, 1);
    const inChannels = checkInt(where, 'inChannels', options.inChannels ?? 3, 1);
    const stem = checkOneOf(where, 'stem', options.stem ?? 'imagenet', ['imagenet', 'cifar'] as const);
    const width = checkInt(where, 'width', options.width ?? 64, 1);
    const convs = convPerStage(where, options.conv ?? 'standard', 4);
    this.stageConvs = convs;
    this.conv1 =
      stem === 'imagenet'
        ? new Conv2d(inChannels, width, { kernelSize: 7, stride: 2, padding: 3, bias: false })
        : new Conv2d(inChannels, width, { kernelSize: 3, stride: 1, padding: 1, bias: false });
    this.bn1 = new BatchNorm2d(width);
    this.maxpool = stem === 'imagenet' ? new MaxPool2d({ kernelSize: 3, stride: 2, padding: 1 }) : null;
    let channels = width;
    const stage = (i: number): Sequential<BasicBlock> => {
      const out = width * 2 ** i;
      const stride = i === 0 ? 1 : 2;
      const list: BasicBlock[] = [];
      for (let b = 0; b < blocks[i]; b++) {
        list.push(new BasicBlock(channels, out, b === 0 ? stride : 1, convs[i]));
        channels = out;
      }
      return new Sequential(...list);
    };
    this.layer1 = stage(0);
    this.layer2 = stage(1);
    this.layer3 = stage(2);
    this.layer4 = stage(3);
    this.avgpool = new AdaptiveAvgPool2d(1);
    this.fc = new Linear(channels, numClasses);
  }

  /** [N, inChannels, H, W] -> [N, numClasses] logits. */
  forward(x: Tensor): Tensor {
    let y = convBnAct(this.conv1, this.bn1, x, { relu: true });
    if (this.maxpool) y = this.maxpool.forward(y);
    y = this.layer4.forward(this.layer3.forward(this.layer2.forward(this.layer1.forward(y))));
    return this.fc.forward(ops.flatten(this.avgpool.forward(y), 1));
  }
}

export function resnet18(options: ResNetOptions = {}): ResNet {
  return new ResNet([2, 2, 2, 2], options);
}

export function resnet34(options: ResNetOptions = {}): ResNet {
  return new ResNet([3, 4, 6, 3], options);
}
