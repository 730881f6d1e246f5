/** Every differentiable op, as `ops.<name>`. */
export * from './elementwise';
export * from './activation';
export * from './reduction';
export * from './shape';
export { expand, sumTo } from './broadcast';
export * from './matmul';
export * from './batchnorm';
export * from './pooling';
export * from './interpolate';
export * from './grid_sample';
export * from './conv';
export type { EpilogueOptions } from './epilogue';
export * from './linear';
export * from './deform_conv';
export * from './dynamic_conv';
export * from './softmax';
export * from './loss';
export * from './dropout';
