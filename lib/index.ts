/**
 * flexconv: adaptive convolutions for Node.js.
 *
 *   import { Tensor, ops, nn, optim } from 'flexconv';
 */
export { Tensor, type Device, type TensorOptions } from './tensor';
export { tidy, keep } from './scope';
export { noGrad, isGradEnabled } from './autograd';
export { weightsChanged } from './weights_generation';
export { Generator, manualSeed } from './random';
export * from './errors';
export * from './system';
export { profile, type ProfileReport, type KernelTime } from './profile';
export * as ops from './ops';
export * as nn from './nn';
export * as optim from './optim';
export * as data from './data';
export * as models from './models';
export * as train from './train';
export * as report from './report';
export * as distributed from './distributed';
export {
  saveSafetensors,
  loadSafetensors,
  readSafetensors,
  serializeSafetensors,
  parseSafetensors,
} from './io/safetensors';
export { exportOnnx, type ExportOnnxOptions } from './onnx/export';
export { OnnxModel, type OnnxModelOptions } from './onnx/model';
