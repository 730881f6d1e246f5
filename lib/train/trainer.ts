/**
 * The training loop: `fit` runs epochs of optimisation with optional validation, LR
 * scheduling, checkpointing and resuming; `evaluate` measures loss, accuracy and (for
 * segmentation) mean IoU.
 *
 *   const { history } = await fit(model, new optim.Adam(model.parameters(), { lr: 1e-3 }), trainLoader, {
 *     epochs: 5, valLoader, checkpointDir: 'runs/a', resume: true,
 *   });
 *
 * Both are async and yield to the event loop between steps (a server keeps answering while
 * it trains). Each step runs inside tidy(), so every intermediate tensor is freed at once and
 * memory stays flat.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { noGrad } from '../autograd';
import { checkInt, checkOptionKeys, expectOptionsObject } from '../check';
import type { DataLoader } from '../data/loader';
import { ArgumentError, describe } from '../errors';
import type { Module } from '../nn/module';
import * as ops from '../ops';
import type { Optimizer } from '../optim/optimizer';
import type { LRScheduler } from '../optim/schedulers';
import { tidy } from '../scope';
import type { Tensor } from '../tensor';
import { loadCheckpoint, saveCheckpoint } from './checkpoint';
import { isMainProcess } from '../distributed/process_group';
import { ConfusionMatrix } from './metrics';
import { createReporter, ProgressMode } from './progress';

export type LossFn = (output: Tensor, target: Tensor) => Tensor;

export interface EpochStats {
  /** 1-based epoch number. */
  epoch: number;
  trainLoss: number;
  /** Classification accuracy, or pixel accuracy for segmentation. */
  trainAccuracy: number;
  trainMeanIoU?: number;
  valLoss?: number;
  valAccuracy?: number;
  valMeanIoU?: number;
  /** Wall time of the training part of the epoch. */
  seconds: number;
  imagesPerSecond: number;
  /** Learning rate of the first parameter group during the epoch. */
  lr: number;
}

export interface FitOptions {
  epochs: number;
  valLoader?: DataLoader;
  /** Stepped once per epoch, after the epoch. */
  scheduler?: LRScheduler;
  /** Default: cross-entropy over classes (per pixel for segmentation). */
  lossFn?: LossFn;
  /** Called after every epoch (awaited). */
  onEpoch?: (stats: EpochStats) => void | Promise<void>;
  /** Writes `<dir>/last.safetensors` (+ .json) after every epoch. */
  checkpointDir?: string;
  /** true: continue from `<checkpointDir>/last.safetensors` if it exists; a string: from that file. */
  resume?: boolean | string;
  /** 'auto' (bar on a TTY, lines otherwise), 'bar', 'lines' or 'none'. */
  progress?: ProgressMode;
  /** Where plain log lines go (default console.log). */
  log?: (line: string) => void;
  /** Stop each epoch after this many steps (quick runs, benchmarks). */
  maxStepsPerEpoch?: number;
}

export interface EvaluateResult {
  loss: number;
  accuracy: number;
  meanIoU?: number;
  samples: number;
}

const defaultLoss: LossFn = (output, target) => ops.crossEntropy(output, target);

const nextTick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Moves batches to the device of the model's parameters (the loader produces CPU tensors). */
function batchMover(model: Module): (t: Tensor) => Tensor {
  const device = model.parameters()[0]?.device ?? 'cpu';
  return (t) => (t.device === device ? t : t.to(device));
}

function lastCheckpoint(dir: string): string {
  return path.join(dir, 'last.safetensors');
}

/** Loss, accuracy and (segmentation) mean IoU of `model` over `loader`, in eval mode, without gradients. */
export async function evaluate(
  model: Module,
  loader: DataLoader,
  options: { lossFn?: LossFn; maxSteps?: number } = {},
): Promise<EvaluateResult> {
  if (!model || typeof (model as Module).forward !== 'function') {
    throw new ArgumentError(`evaluate: expected model to be a Module but received ${describe(model)}`);
  }
  if (!loader || typeof (loader as DataLoader).batches !== 'function') {
    throw new ArgumentError(`evaluate: expected loader to be a DataLoader but received ${describe(loader)}`);
  }
  expectOptionsObject('evaluate', options);
  const lossFn = options.lossFn ?? defaultLoss;
  const wasTraining = model.training;
  model.eval();
  const segmentation = loader.dataset.task === 'segmentation';
  const cm = new ConfusionMatrix(loader.dataset.numClasses);
  let lossSum = 0;
  let samples = 0;
  let steps = 0;
  const move = batchMover(model);
  try {
    for (const batch of loader.batches(0)) {
      const n = batch.input.shape[0];
      const loss = tidy(() =>
        noGrad(() => {
          const target = move(batch.target);
          const out = model.forward(move(batch.input)) as Tensor;
          cm.update(out, target);
          return lossFn(out, target).item();
        }),
      );
      batch.input.dispose();
      batch.target.dispose();
      lossSum += loss * n;
      samples += n;
      await nextTick();
      if (options.maxSteps !== undefined && ++steps >= options.maxSteps) break;
    }
  } finally {
    model.train(wasTraining);
  }
  return {
    loss: samples ? lossSum / samples : 0,
    accuracy: cm.accuracy(),
    meanIoU: segmentation ? cm.meanIoU() : undefined,
    samples,
  };
}

function checkFitArgs(model: unknown, optimizer: unknown, loader: unknown, options: FitOptions): void {
  const where = 'fit';
  if (!model || typeof (model as Module).forward !== 'function') {
    throw new ArgumentError(`${where}: expected model to be a Module but received ${describe(model)}`);
  }
  if (!optimizer || typeof (optimizer as Optimizer).step !== 'function') {
    throw new ArgumentError(`${where}: expected optimizer to be an Optimizer but received ${describe(optimizer)}`);
  }
  if (!loader || typeof (loader as DataLoader).batches !== 'function') {
    throw new ArgumentError(`${where}: expected trainLoader to be a DataLoader but received ${describe(loader)}`);
  }
  if (!options || typeof options !== 'object') {
    throw new ArgumentError(`${where}: expected options to be an object with epochs but received ${describe(options)}`);
  }
  checkOptionKeys(where, options, [
    'epochs',
    'valLoader',
    'scheduler',
    'lossFn',
    'onEpoch',
    'checkpointDir',
    'resume',
    'progress',
    'log',
    'maxStepsPerEpoch',
  ]);
  checkInt(where, 'options.epochs', options.epochs, 0);
  if (options.maxStepsPerEpoch !== undefined) checkInt(where, 'options.maxStepsPerEpoch', options.maxStepsPerEpoch, 1);
  if (options.resume && typeof options.resume !== 'string' && !options.checkpointDir) {
    throw new ArgumentError(
      `${where}: resume: true needs options.checkpointDir (or pass the checkpoint file as resume)`,
    );
  }
}

/** Trains `model` for `options.epochs` epochs (counting any completed before a resume). */
export async function fit(
  model: Module,
  optimizer: Optimizer,
  trainLoader: DataLoader,
  options: FitOptions,
): Promise<{ history: EpochStats[]; startEpoch: number }> {
  checkFitArgs(model, optimizer, trainLoader, options);
  const lossFn = options.lossFn ?? defaultLoss;
  // Data-parallel jobs log, show progress and write checkpoints from rank 0 only; every rank
  // trains, validates and resumes.
  const main = isMainProcess();
  const log = main ? (options.log ?? ((line: string) => console.log(line))) : () => {};
  const reporter = createReporter(main ? (options.progress ?? 'auto') : 'none', log);
  const segmentation = trainLoader.dataset.task === 'segmentation';
  let history: EpochStats[] = [];
  let startEpoch = 0;

  const resumeFrom =
    typeof options.resume === 'string'
      ? options.resume
      : options.resume && options.checkpointDir && fs.existsSync(lastCheckpoint(options.checkpointDir))
        ? lastCheckpoint(options.checkpointDir)
        : null;
  if (resumeFrom) {
    const restored = loadCheckpoint(resumeFrom, { model, optimizer, scheduler: options.scheduler });
    startEpoch = restored.epoch;
    history = Array.isArray(restored.extra.history) ? (restored.extra.history as EpochStats[]) : [];
    log(`resumed from ${resumeFrom} after epoch ${startEpoch}`);
  }
  if (options.checkpointDir && main) fs.mkdirSync(options.checkpointDir, { recursive: true });

  const move = batchMover(model);
  for (let epoch = startEpoch; epoch < options.epochs; epoch++) {
    model.train();
    trainLoader.setEpoch(epoch);
    const steps = Math.min(trainLoader.length, options.maxStepsPerEpoch ?? Infinity);
    const lr = optimizer.paramGroups[0].lr;
    reporter.startEpoch(epoch + 1, options.epochs, steps);
    const cm = new ConfusionMatrix(trainLoader.dataset.numClasses);
    let lossSum = 0;
    let samples = 0;
    let done = 0;
    const started = process.hrtime.bigint();
    for (const batch of trainLoader.batches(epoch)) {
      const n = batch.input.shape[0];
      const loss = tidy(() => {
        optimizer.zeroGrad();
        const target = move(batch.target);
        const out = model.forward(move(batch.input)) as Tensor;
        const l = lossFn(out, target);
        l.backward();
        optimizer.step();
        cm.update(out, target);
        return l.item();
      });
      batch.input.dispose();
      batch.target.dispose();
      if (!Number.isFinite(loss)) log(`warning: epoch ${epoch + 1} step ${done + 1}: loss is ${loss}`);
      lossSum += loss * n;
      samples += n;
      done++;
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      reporter.step(done, { loss: lossSum / samples, accuracy: cm.accuracy(), imagesPerSecond: samples / seconds });
      await nextTick();
      if (done >= steps) break;
    }
    optimizer.zeroGrad();
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const stats: EpochStats = {
      epoch: epoch + 1,
      trainLoss: samples ? lossSum / samples : 0,
      trainAccuracy: cm.accuracy(),
      seconds,
      imagesPerSecond: samples / Math.max(seconds, 1e-9),
      lr,
    };
    if (segmentation) stats.trainMeanIoU = cm.meanIoU();
    if (options.valLoader) {
      reporter.validating();
      const v = await evaluate(model, options.valLoader, { lossFn });
      stats.valLoss = v.loss;
      stats.valAccuracy = v.accuracy;
      if (v.meanIoU !== undefined) stats.valMeanIoU = v.meanIoU;
    }
    options.scheduler?.step();
    history.push(stats);
    reporter.endEpoch(summarise(stats, options.epochs));
    if (options.checkpointDir && main) {
      saveCheckpoint(lastCheckpoint(options.checkpointDir), {
        model,
        optimizer,
        scheduler: options.scheduler,
        epoch: epoch + 1,
        extra: { history },
      });
    }
    await options.onEpoch?.(stats);
  }
  return { history, startEpoch };
}

function summarise(s: EpochStats, epochs: number): string {
  const pct = (v: number): string => `${(100 * v).toFixed(1)}%`;
  let line = `epoch ${s.epoch}/${epochs}: loss ${s.trainLoss.toFixed(4)} acc ${pct(s.trainAccuracy)}`;
  if (s.trainMeanIoU !== undefined) line += ` mIoU ${pct(s.trainMeanIoU)}`;
  if (s.valLoss !== undefined) line += ` | val loss ${s.valLoss.toFixed(4)} acc ${pct(s.valAccuracy ?? 0)}`;
  if (s.valMeanIoU !== undefined) line += ` mIoU ${pct(s.valMeanIoU)}`;
  return `${line} | ${s.seconds.toFixed(1)} s, ${s.imagesPerSecond.toFixed(0)} img/s, lr ${s.lr.toPrecision(3)}`;
}
