/** Training: `fit`, `evaluate`, metrics and checkpoints. */
export { fit, evaluate, type EpochStats, type FitOptions, type EvaluateResult, type LossFn } from './trainer';
export { ConfusionMatrix, accuracy, meanIoU } from './metrics';
export {
  saveModel,
  loadModel,
  saveCheckpoint,
  loadCheckpoint,
  CHECKPOINT_FORMAT,
  type CheckpointContent,
} from './checkpoint';
export { createReporter, type ProgressMode, type ProgressReporter } from './progress';
export { svgLineChart, type Series, type ChartOptions } from '../report/line_chart';
