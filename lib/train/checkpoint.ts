/**
 * Checkpoints as safetensors files.
 *
 * - `saveModel` / `loadModel`: a plain state dict with PyTorch's key names ('conv1.weight',
 *   'bn1.running_mean', ...): the file PyTorch writes with
 *   `safetensors.torch.save_file(model.state_dict(), path)` and reads with `load_file`.
 * - `saveCheckpoint` / `loadCheckpoint`: everything needed to resume training in one file:
 *   'model.<key>' tensors, 'optimizer.<param index>.<state name>' tensors, and JSON in the
 *   metadata (epoch, optimizer hyper-parameters and step counts, scheduler state, history).
 *   A sidecar '<file>.json' repeats the metadata for people and tools.
 *
 * Both writes are atomic (lib/io/safetensors.ts): a crash mid-save keeps the previous file.
 */
import { ArgumentError, describe, IoError } from '../errors';
import { removeStaleTemporaries, writeFileAtomic } from '../io/atomic_write';
import { isInt64StateKey, saveSafetensors, loadSafetensors } from '../io/safetensors';
import { Module } from '../nn/module';
import type { Optimizer, OptimizerStateDict } from '../optim/optimizer';
import type { LRScheduler } from '../optim/schedulers';
import { Tensor } from '../tensor';

export const CHECKPOINT_FORMAT = 'flexconv-checkpoint-1';
/** A sanity bound on a checkpoint's completed-epoch count (far beyond any real run). */
const MAX_CHECKPOINT_EPOCH = 1_000_000;

/** The (model, file) order that saveModel and loadModel share, checked with a one-line error. */
function checkModelAndFile(where: string, model: unknown, file: unknown): void {
  if (typeof model === 'string' && file instanceof Module) {
    throw new ArgumentError(
      `${where}: expected (model, file) but received (file, model): call ${where}(model, '${model}')`,
    );
  }
  if (!(model instanceof Module)) {
    throw new ArgumentError(`${where}: expected model to be a Module but received ${describe(model)}`);
  }
  if (typeof file !== 'string' || file === '') {
    throw new ArgumentError(`${where}: expected file to be a non-empty path string but received ${describe(file)}`);
  }
}

/**
 * Writes the model's state dict to a safetensors file as PyTorch does: its key names, F32
 * tensors and I64 num_batches_tracked counters. Same argument order as loadModel(model, file).
 */
export function saveModel(model: Module, file: string, metadata: Record<string, string> = {}): void {
  checkModelAndFile('saveModel', model, file);
  saveSafetensors(file, model.stateDict(), { format: 'pt', ...metadata }, { int64: isInt64StateKey });
}

/**
 * Loads a safetensors state dict (ours or PyTorch's) into `model` in place. PyTorch's
 * BatchNorm 'num_batches_tracked' counters are skipped when the model does not keep them.
 */
export function loadModel(model: Module, file: string, options: { strict?: boolean } = {}) {
  checkModelAndFile('loadModel', model, file);
  const { tensors } = loadSafetensors(file);
  const own = model.stateDict();
  for (const key of Object.keys(tensors)) {
    if (key.endsWith('num_batches_tracked') && !(key in own)) {
      tensors[key].dispose();
      delete tensors[key];
    }
  }
  try {
    return model.loadStateDict(tensors, options);
  } catch (e) {
    throw Object.assign(e as Error, { message: `${file}: ${(e as Error).message}` });
  } finally {
    for (const t of Object.values(tensors)) t.dispose();
  }
}

export interface CheckpointContent {
  model: Module;
  optimizer?: Optimizer;
  scheduler?: LRScheduler;
  /** Number of completed epochs. */
  epoch: number;
  /** Anything JSON-serialisable (history, configuration). */
  extra?: Record<string, unknown>;
}

export function saveCheckpoint(file: string, content: CheckpointContent): void {
  if (content === null || typeof content !== 'object' || !(content.model instanceof Module)) {
    throw new ArgumentError(
      `saveCheckpoint: expected content to be an object with a model (a Module) but received ${describe(content)}`,
    );
  }
  const { model, optimizer, scheduler, epoch, extra } = content;
  const tensors: Record<string, Tensor> = {};
  for (const [k, t] of Object.entries(model.stateDict())) tensors[`model.${k}`] = t;
  let optimizerMeta: unknown = null;
  const owned: Tensor[] = [];
  if (optimizer) {
    const sd = optimizer.stateDict();
    const steps: Record<string, number> = {};
    for (const [index, entry] of Object.entries(sd.state)) {
      for (const [name, value] of Object.entries(entry)) {
        if (value instanceof Tensor) {
          tensors[`optimizer.${index}.${name}`] = value;
          owned.push(value);
        } else steps[`${index}.${name}`] = value as number;
      }
    }
    optimizerMeta = { name: optimizer.name, paramGroups: sd.paramGroups, scalars: steps };
  }
  const meta = {
    format: CHECKPOINT_FORMAT,
    epoch,
    optimizer: optimizerMeta,
    scheduler: scheduler ? scheduler.stateDict() : null,
    extra: extra ?? {},
  };
  try {
    saveSafetensors(file, tensors, { format: 'pt', flexconv: JSON.stringify(meta) }, { int64: isInt64StateKey });
  } finally {
    for (const t of owned) t.dispose();
  }
  writeFileAtomic(
    `${file}.json`,
    Buffer.from(`${JSON.stringify({ ...meta, savedAt: new Date().toISOString() }, null, 2)}\n`),
  );
}

/**
 * Restores model, optimizer and scheduler from `file` (each only if given) and returns the
 * completed epoch count and the extra data. Throws an IoError for files that are not checkpoints.
 */
export function loadCheckpoint(
  file: string,
  targets: { model: Module; optimizer?: Optimizer; scheduler?: LRScheduler },
): { epoch: number; extra: Record<string, unknown> } {
  if (!targets || typeof targets !== 'object' || !targets.model) {
    throw new ArgumentError(
      `loadCheckpoint: expected targets to be { model, optimizer?, scheduler? } but received ${describe(targets)}`,
    );
  }
  removeStaleTemporaries(file);
  removeStaleTemporaries(`${file}.json`);
  const { tensors, metadata } = loadSafetensors(file);
  try {
    let meta: {
      format?: string;
      epoch?: number;
      optimizer?: { name: string; paramGroups: Record<string, unknown>[]; scalars: Record<string, number> } | null;
      scheduler?: { lastEpoch: number; baseLrs: number[] } | null;
      extra?: Record<string, unknown>;
    };
    try {
      meta = JSON.parse(metadata.flexconv ?? '');
    } catch {
      throw new IoError(
        `${file}: not a flexconv checkpoint (no 'flexconv' metadata); for a plain state dict use loadModel()`,
      );
    }
    if (meta === null || typeof meta !== 'object' || meta.format !== CHECKPOINT_FORMAT) {
      throw new IoError(
        `${file}: unsupported checkpoint format ${JSON.stringify(meta?.format)} (expected ${CHECKPOINT_FORMAT})`,
      );
    }
    // Every field read back is checked: a corrupted or hand-edited file must not make fit()
    // train a fraction of an epoch, none, or from a negative one.
    if (
      !Number.isSafeInteger(meta.epoch) ||
      (meta.epoch as number) < 0 ||
      (meta.epoch as number) > MAX_CHECKPOINT_EPOCH
    ) {
      throw new IoError(
        `${file}: expected the checkpoint's epoch to be an integer in [0, ${MAX_CHECKPOINT_EPOCH}] but it holds ${JSON.stringify(meta.epoch)}`,
      );
    }
    const modelDict: Record<string, Tensor> = {};
    const optimizerState: OptimizerStateDict['state'] = {};
    for (const [key, t] of Object.entries(tensors)) {
      if (key.startsWith('model.')) modelDict[key.slice(6)] = t;
      else if (key.startsWith('optimizer.')) {
        const [, index, ...rest] = key.split('.');
        (optimizerState[Number(index)] ??= { step: 0 })[rest.join('.')] = t;
      }
    }
    try {
      targets.model.loadStateDict(modelDict);
    } catch (e) {
      throw Object.assign(e as Error, { message: `${file}: ${(e as Error).message}` });
    }
    if (targets.optimizer) {
      if (!meta.optimizer) throw new IoError(`${file}: the checkpoint holds no optimizer state`);
      if (meta.optimizer.name !== targets.optimizer.name) {
        throw new IoError(
          `${file}: the checkpoint holds ${meta.optimizer.name} state but the optimizer is ${targets.optimizer.name}`,
        );
      }
      for (const [k, v] of Object.entries(meta.optimizer.scalars)) {
        const [index, ...rest] = k.split('.');
        (optimizerState[Number(index)] ??= { step: 0 })[rest.join('.')] = v;
      }
      targets.optimizer.loadStateDict({ state: optimizerState, paramGroups: meta.optimizer.paramGroups });
    }
    if (targets.scheduler && meta.scheduler) targets.scheduler.loadStateDict(meta.scheduler);
    return { epoch: meta.epoch as number, extra: meta.extra ?? {} };
  } finally {
    for (const t of Object.values(tensors)) t.dispose();
  }
}
