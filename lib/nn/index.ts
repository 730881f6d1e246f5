/** Layers and models: `nn.Module`, `nn.Conv2d`, ... and `nn.init`. */
export { Parameter } from './parameter';
export { Module, type LoadStateDictOptions, type LoadStateDictResult } from './module';
export { ModuleList, Sequential } from './container';
export * as init from './init';
