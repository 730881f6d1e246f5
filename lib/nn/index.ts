/** Layers and models: `nn.Module`, `nn.Conv2d`, ... and `nn.init`. */
export { Parameter } from './parameter';
export { Module, type LoadStateDictOptions, type LoadStateDictResult } from './module';
export { InferencePlan } from './inference_plan';
export { ModuleList, Sequential } from './container';
export { Conv2d, ConvTranspose2d, type Conv2dOptions, type ConvTranspose2dOptions } from './conv';
export { Linear, Identity } from './linear';
export { Flatten } from './flatten';
export { BatchNorm2d, type BatchNorm2dOptions } from './normalization';
export { ReLU, LeakyReLU, Sigmoid, Tanh, SiLU } from './activation';
export { MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, type MaxPool2dOptions, type AvgPool2dOptions } from './pooling';
export { Upsample, type UpsampleOptions } from './upsample';
export { Dropout } from './dropout';
export { clipGradNorm_, clipGradValue_ } from './clip';
export * as init from './init';
export * from './deform';
export * from './octave';
export * from './pyramid';
export {
  DynamicConv2d,
  DynamicConvBlock,
  DynamicAttention,
  setTemperature,
  dynamicConvLayers,
  type DynamicConv2dOptions,
  type DynamicConvBlockOptions,
  type DynamicRouting,
} from './dynamic';
// Moved out of nn (networks to lib/models, the schedule to lib/optim, the picture to lib/report);
// these names stay here for code written against 0.1.
/** @deprecated use models.OctNet */
export { OctNet, type OctNetOptions } from '../models/octnet';
/** @deprecated use models.DynamicNet */
export { DynamicNet, type DynamicNetOptions } from '../models/dynamic_net';
/** @deprecated use optim.TemperatureSchedule / optim.linearTemperature */
export { TemperatureSchedule, linearTemperature, type TemperatureScheduleOptions } from '../optim/temperature';
/** @deprecated use report.samplingLocationsSvg */
export { samplingLocationsSvg, type SamplingSvgOptions } from '../report/sampling_svg';
