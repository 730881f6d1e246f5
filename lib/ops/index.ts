/** Every differentiable op, as `ops.<name>`. */
export * from './elementwise';
export * from './matmul';
export * from './dynamic_conv';
