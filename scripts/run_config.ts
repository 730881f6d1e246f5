/**
 * Shared by scripts/train.ts and scripts/compare.ts: building a dataset, a model and an
 * optimizer from command-line style settings, and validating those settings with messages
 * that say what was wrong and what is accepted.
 */
import { parseArgs, ParseArgsConfig } from 'node:util';
import * as data from '../lib/data';
import type { ImageDataset } from '../lib/data';
import * as models from '../lib/models';
import type { Module } from '../lib/nn';
import * as optim from '../lib/optim';

export class UsageError extends Error {}

export type OptionSpec = { type: 'string' | 'boolean'; default?: string | boolean; help: string };

/** Parses `argv` against `spec` (node:util parseArgs, strict), turning its errors into UsageErrors. */
export function parseCli(
  argv: string[],
  spec: Record<string, OptionSpec>,
): Record<string, string | boolean | undefined> {
  const options: ParseArgsConfig['options'] = {};
  for (const [k, s] of Object.entries(spec)) options[k] = { type: s.type, default: s.default } as never;
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values as Record<
      string,
      string | boolean | undefined
    >;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

export function usageText(command: string, spec: Record<string, OptionSpec>): string {
  const lines = [`usage: ${command} [options]`, '', 'options:'];
  for (const [k, s] of Object.entries(spec)) {
    const flag = s.type === 'boolean' ? `--${k}` : `--${k} <value>`;
    const def = s.default !== undefined && s.type !== 'boolean' ? ` (default ${s.default})` : '';
    lines.push(`  ${flag.padEnd(26)} ${s.help}${def}`);
  }
  return lines.join('\n');
}

export function intOption(values: Record<string, unknown>, name: string, min: number): number {
  const raw = values[name];
  const n = Number(raw);
  if (typeof raw !== 'string' || raw.trim() === '' || !Number.isInteger(n) || n < min) {
    throw new UsageError(`--${name}: expected an integer >= ${min} but received ${JSON.stringify(raw)}`);
  }
  return n;
}

export function numberOption(values: Record<string, unknown>, name: string, min: number): number {
  const raw = values[name];
  const n = Number(raw);
  if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(n) || n < min) {
    throw new UsageError(`--${name}: expected a number >= ${min} but received ${JSON.stringify(raw)}`);
  }
  return n;
}

export function choiceOption<T extends string>(
  values: Record<string, unknown>,
  name: string,
  choices: readonly T[],
): T {
  const raw = values[name];
  if (typeof raw !== 'string' || !choices.includes(raw as T)) {
    throw new UsageError(`--${name}: expected one of ${choices.join(', ')} but received ${JSON.stringify(raw)}`);
  }
  return raw as T;
}

export const DATASETS = ['synthetic', 'synthetic-seg', 'fashion-mnist', 'cifar10'] as const;
export type DatasetName = (typeof DATASETS)[number];

export function loadDatasets(
  name: DatasetName,
  settings: { dataDir?: string; trainSize?: number; testSize?: number; seed: number; channels?: 1 | 3 },
): { train: ImageDataset; test: ImageDataset } {
  let train: ImageDataset;
  let test: ImageDataset;
  switch (name) {
    case 'synthetic':
    case 'synthetic-seg': {
      const task = name === 'synthetic' ? 'classification' : 'segmentation';
      const channels = settings.channels ?? 1;
      train = data.syntheticShapes({ task, channels, length: settings.trainSize ?? 5000, seed: settings.seed });
      test = data.syntheticShapes({
        task,
        channels,
        length: settings.testSize ?? 1000,
        seed: settings.seed + 1_000_003,
      });
      break;
    }
    case 'fashion-mnist': {
      const dir = settings.dataDir ?? data.DEBIAN_FASHION_MNIST_DIR;
      train = data.loadMnist(dir, { split: 'train', classNames: data.FASHION_MNIST_CLASSES });
      test = data.loadMnist(dir, { split: 'test', classNames: data.FASHION_MNIST_CLASSES });
      break;
    }
    case 'cifar10': {
      if (!settings.dataDir)
        throw new UsageError('--dataset cifar10 needs --data-dir <the extracted cifar-10-batches-bin directory>');
      train = data.loadCifar10(settings.dataDir, { split: 'train' });
      test = data.loadCifar10(settings.dataDir, { split: 'test' });
      break;
    }
  }
  if (settings.trainSize !== undefined && train.length > settings.trainSize)
    train = data.take(train, settings.trainSize);
  if (settings.testSize !== undefined && test.length > settings.testSize) test = data.take(test, settings.testSize);
  return { train, test };
}

export const MODELS = ['resnet18', 'resnet34', 'unet'] as const;
export type ModelName = (typeof MODELS)[number];

/** Parses '--stages 3,4' into stage numbers. */
export function parseStages(raw: string | undefined, count: number): number[] | null {
  if (raw === undefined || raw === '' || raw === 'all') return null;
  const stages = raw.split(',').map((s) => Number(s.trim()));
  if (!stages.every((s) => Number.isInteger(s) && s >= 1 && s <= count)) {
    throw new UsageError(
      `--stages: expected comma-separated stage numbers in 1..${count} (e.g. 3,4) or 'all' but received ${JSON.stringify(raw)}`,
    );
  }
  return stages;
}

export function buildModel(
  name: ModelName,
  settings: { conv: string; stages: number[] | null; width?: number; stem?: 'cifar' | 'imagenet'; train: ImageDataset },
): Module {
  const { train } = settings;
  const kind = models.checkConvKind('--conv', 'the conv kind', settings.conv);
  const conv: models.ConvChoice = settings.stages ? { kind, stages: settings.stages } : kind;
  if (name === 'unet') {
    if (train.task !== 'segmentation')
      throw new UsageError(`--model unet needs a segmentation dataset (--dataset synthetic-seg)`);
    return models.unet({
      inChannels: train.channels,
      numClasses: train.numClasses,
      baseChannels: settings.width ?? 16,
      depth: 3,
      conv,
    });
  }
  if (train.task !== 'classification')
    throw new UsageError(`--model ${name} needs a classification dataset, not ${train.task}`);
  const make = name === 'resnet18' ? models.resnet18 : models.resnet34;
  return make({
    numClasses: train.numClasses,
    inChannels: train.channels,
    stem: settings.stem ?? 'cifar',
    width: settings.width ?? 64,
    conv,
  });
}

export const OPTIMIZERS = ['adam', 'adamw', 'sgd'] as const;

/**
 * The optimizer for a run; deformable offset predictors learn at lr * offsetLrMult (see
 * optim.deformParamGroups: without it deformable nets learn markedly slower than plain ones).
 */
export function buildOptimizer(
  name: (typeof OPTIMIZERS)[number],
  model: Module,
  lr: number,
  weightDecay: number,
  offsetLrMult = 1,
): optim.Optimizer {
  const params = optim.deformParamGroups(model, { lr, offsetLrMult });
  if (name === 'sgd')
    return new optim.SGD(params, { lr, momentum: 0.9, weightDecay, nesterov: true }) as unknown as optim.Optimizer;
  if (name === 'adamw') return new optim.AdamW(params, { lr, weightDecay }) as unknown as optim.Optimizer;
  return new optim.Adam(params, { lr, weightDecay }) as unknown as optim.Optimizer;
}

/** The --offset-lr-mult option, shared by `npm start` and `npm run train`. */
export const OFFSET_LR_MULT_OPTION: OptionSpec = {
  type: 'string',
  default: '0.1',
  help: "deformable offset predictors' learning rate as a multiple of --lr (mmcv's dcn_offset_lr_mult)",
};

export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}
