/** Optimizers and learning-rate schedulers: `optim.SGD`, `optim.AdamW`, `optim.CosineAnnealingLR`, ... */
export { Optimizer, type GroupOptions, type ParamGroup, type ParamsInput, type OptimizerStateDict } from './optimizer';
export { SGD, type SGDOptions } from './sgd';
export { Adam, AdamW, type AdamOptions } from './adam';
export { LRScheduler, StepLR, CosineAnnealingLR, LinearWarmup, SequentialLR } from './schedulers';
export { TemperatureSchedule, linearTemperature, type TemperatureScheduleOptions } from './temperature';
export { deformParamGroups, type DeformParamGroups, type DeformParamGroupsOptions } from './param_groups';
