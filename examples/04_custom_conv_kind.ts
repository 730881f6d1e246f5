/**
 * Plug your own convolution into the ready-made networks: register a conv kind (here a
 * depthwise-separable conv: a depthwise 3x3 then a pointwise 1x1) and build ResNet-18 with it
 * in the last stage. The factory receives (inChannels, outChannels, { kernelSize, stride,
 * padding, bias }) and returns any Module with Conv2d's output size.
 *
 *   npx ts-node --project examples/tsconfig.json examples/04_custom_conv_kind.ts
 */
import { manualSeed, models, nn, noGrad, Tensor } from 'flexconv';

class SeparableConv2d extends nn.Module {
  readonly depthwise: nn.Conv2d;
  readonly pointwise: nn.Conv2d;

  constructor(inChannels: number, outChannels: number, spec: models.ConvSpec) {
    super();
    const { kernelSize, stride, padding } = spec;
    this.depthwise = new nn.Conv2d(inChannels, inChannels, {
      kernelSize,
      stride,
      padding,
      groups: inChannels,
      bias: false,
    });
    this.pointwise = new nn.Conv2d(inChannels, outChannels, { kernelSize: 1, bias: spec.bias });
  }

  forward(x: Tensor): Tensor {
    return this.pointwise.forward(this.depthwise.forward(x));
  }
}

manualSeed(4);
const separable = models.registerConv('separable', (i, o, spec) => new SeparableConv2d(i, o, spec));
const plain = models.resnet18({ numClasses: 10, stem: 'cifar', width: 16 });
const light = models.resnet18({ numClasses: 10, stem: 'cifar', width: 16, conv: { kind: separable, stages: [4] } });
const out = noGrad(() => light.eval().forward(Tensor.randn([2, 3, 32, 32])));
console.log(
  `output ${JSON.stringify(out.shape)}; parameters: plain ${plain.numParameters()}, separable stage 4 ${light.numParameters()}`,
);
if (!(light.numParameters() < plain.numParameters())) throw new Error('separable convs should need fewer parameters');
