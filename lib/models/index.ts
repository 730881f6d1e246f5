/** Ready-made networks with a pluggable conv kind: `models.resnet18({ conv: 'deform' })`, `models.unet(...)`. */
export { ResNet, BasicBlock, resnet18, resnet34, type ResNetOptions } from './resnet';
export { UNet, DoubleConv, UpBlock, unet, type UNetOptions } from './unet';
export { OctNet, type OctNetOptions } from './octnet';
export { DynamicNet, type DynamicNetOptions } from './dynamic_net';
export {
  CONV_KINDS,
  convKinds,
  convPerStage,
  makeConv,
  OctaveConvAdapter,
  registerConv,
  checkConvKind,
  type ConvChoice,
  type ConvFactory,
  type ConvKind,
  type ConvKindName,
  type RegisteredConvKind,
  type ConvSpec,
} from './conv_factory';
