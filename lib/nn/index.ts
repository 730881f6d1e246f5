/** Layers and models: `nn.Module`, `nn.Conv2d`, ... and `nn.init`. */
export { Parameter } from './parameter';
export { Module, type LoadStateDictOptions, type LoadStateDictResult } from './module';
export { ModuleList, Sequential } from './container';
export { Conv2d, ConvTranspose2d, type Conv2dOptions, type ConvTranspose2dOptions } from './conv';
export { Linear, Identity } from './linear';
export * as init from './init';
export * from './deform';
