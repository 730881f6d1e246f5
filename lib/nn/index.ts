/** Layers and models: `nn.Module`, `nn.Conv2d`, ... and `nn.init`. */
export { Parameter } from './parameter';
export { Module, type LoadStateDictOptions, type LoadStateDictResult } from './module';
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
  DynamicConv2d, DynamicConvBlock, DynamicNet, DynamicAttention, TemperatureSchedule, linearTemperature, setTemperature,
  dynamicConvLayers, type DynamicConv2dOptions, type DynamicConvBlockOptions, type DynamicNetOptions, type DynamicRouting,
  type TemperatureScheduleOptions,
} from './dynamic';
