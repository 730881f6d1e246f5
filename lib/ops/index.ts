/** Every differentiable op, as `ops.<name>`. */
export * from './elementwise';
export * from './matmul';
export * from './conv';
export * from './linear';
export * from './deform_conv';
export * from './dynamic_conv';
