/**
 * The main job's settings (`npm start -- ...`): which experiments, models, conv kinds, data,
 * sizes and seeds; the defaults (a few minutes on 2 cores), and the --quick preset (seconds,
 * for CI). Every configuration of an experiment gets the same optimiser, epochs, data and
 * seeds; only the conv kind differs.
 */
import { CONV_KINDS } from '../../lib/models';
import { intOption, numberOption, OFFSET_LR_MULT_OPTION, OptionSpec, parseStages, UsageError } from '../run_config';

export const SPEC: Record<string, OptionSpec> = {
  experiments: { type: 'string', default: 'classification,segmentation', help: 'experiments to run, comma-separated' },
  convs: {
    type: 'string',
    default: 'standard,deform,modulated',
    help: `conv kinds to compare, comma-separated, among ${CONV_KINDS.join(', ')}`,
  },
  models: { type: 'string', default: 'resnet18', help: 'classification networks, comma-separated: resnet18, resnet34' },
  stem: {
    type: 'string',
    default: 'cifar',
    help: 'ResNet stem: cifar (3x3, no pool) or imagenet (7x7 stride 2 + max pool)',
  },
  stages: {
    type: 'string',
    default: '2,3,4',
    help: "stages (ResNet) / levels (U-Net) using the adaptive conv, or 'all' (DCNv2 uses conv3-conv5 = 2,3,4)",
  },
  dataset: {
    type: 'string',
    default: 'synthetic',
    help: 'classification data: synthetic (built-in glyphs), fashion-mnist, cifar10',
  },
  'data-dir': {
    type: 'string',
    help: 'directory of the dataset files (fashion-mnist: the Debian path by default; cifar10: required)',
  },
  width: { type: 'string', help: 'channels of the first ResNet stage / U-Net level (default 16)' },
  epochs: { type: 'string', help: 'epochs per configuration (default 4, segmentation 8)' },
  'train-size': { type: 'string', help: 'classification training samples (glyphs: default 2000; files: all)' },
  'test-size': { type: 'string', help: 'classification test samples per test set (glyphs: default 500; files: all)' },
  'seg-train-size': { type: 'string', help: 'segmentation training samples (default 1500)' },
  'seg-test-size': { type: 'string', help: 'segmentation test samples per test set (default 300)' },
  'batch-size': { type: 'string', default: '32', help: 'classification batch size' },
  'seg-batch-size': {
    type: 'string',
    default: '16',
    help: 'segmentation batch size (scenes teach per pixel: more, smaller steps)',
  },
  lr: { type: 'string', default: '0.002', help: 'Adam learning rate (cosine-annealed)' },
  'offset-lr-mult': OFFSET_LR_MULT_OPTION,
  seeds: {
    type: 'string',
    default: '1',
    help: 'seeds, comma-separated: every configuration runs once per seed, results are averaged',
  },
  threads: { type: 'string', help: 'native threads (default: all cores)' },
  out: { type: 'string', default: 'results', help: 'output directory (report.html, results.json)' },
  quick: { type: 'boolean', default: false, help: 'tiny sizes: the whole job in seconds (CI smoke run)' },
  help: { type: 'boolean', default: false, help: 'show this help' },
};

export type Experiment = 'classification' | 'segmentation';
export type ClassificationDataset = 'synthetic' | 'fashion-mnist' | 'cifar10';

export interface Settings {
  experiments: Experiment[];
  convs: string[];
  models: ('resnet18' | 'resnet34')[];
  stem: 'cifar' | 'imagenet';
  stages: number[] | null;
  dataset: ClassificationDataset;
  dataDir?: string;
  width: number;
  epochs: number;
  segEpochs: number;
  trainSize?: number;
  testSize?: number;
  segTrainSize: number;
  segTestSize: number;
  batchSize: number;
  segBatchSize: number;
  lr: number;
  offsetLrMult: number;
  seeds: number[];
  outDir: string;
  quick: boolean;
}

function list<T extends string>(raw: unknown, name: string, allowed: readonly T[]): T[] {
  const items = String(raw ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (items.length === 0) throw new UsageError(`--${name}: expected at least one of ${allowed.join(', ')}`);
  for (const item of items) {
    if (!allowed.includes(item as T))
      throw new UsageError(
        `--${name}: expected values among ${allowed.join(', ')} but received ${JSON.stringify(item)}`,
      );
  }
  if (new Set(items).size !== items.length)
    throw new UsageError(`--${name}: received a value twice in ${JSON.stringify(raw)}`);
  return items as T[];
}

function optionalInt(values: Record<string, unknown>, name: string, min: number): number | undefined {
  return values[name] === undefined ? undefined : intOption(values, name, min);
}

/** Settings from parsed command-line values (see SPEC); throws UsageError naming the bad option. */
export function resolveSettings(v: Record<string, string | boolean | undefined>): Settings {
  const quick = v.quick === true;
  const experiments = list(v.experiments, 'experiments', ['classification', 'segmentation'] as const);
  const convs = list(v.convs, 'convs', CONV_KINDS);
  const models = list(v.models, 'models', ['resnet18', 'resnet34'] as const);
  const stem = list(v.stem, 'stem', ['cifar', 'imagenet'] as const);
  if (stem.length !== 1)
    throw new UsageError(`--stem: expected one of cifar, imagenet but received ${JSON.stringify(v.stem)}`);
  const dataset = list(v.dataset, 'dataset', ['synthetic', 'fashion-mnist', 'cifar10'] as const);
  if (dataset.length !== 1)
    throw new UsageError(`--dataset: expected one dataset but received ${JSON.stringify(v.dataset)}`);
  if (dataset[0] === 'cifar10' && !v['data-dir'])
    throw new UsageError('--dataset cifar10 needs --data-dir <the extracted cifar-10-batches-bin directory>');
  const seeds = String(v.seeds ?? '')
    .split(',')
    .map((s) => s.trim());
  if (!seeds.every((s) => /^\d+$/.test(s)) || new Set(seeds).size !== seeds.length) {
    throw new UsageError(
      `--seeds: expected distinct non-negative integers separated by commas but received ${JSON.stringify(v.seeds)}`,
    );
  }
  const synthetic = dataset[0] === 'synthetic';
  // --quick only changes the defaults: explicit options still win.
  const orDefault = (
    name: string,
    normal: number | undefined,
    quickValue: number | undefined,
  ): Record<string, unknown> => ({
    [name]: v[name] ?? (quick ? quickValue : normal)?.toString(),
  });
  const sized = {
    ...orDefault('width', 16, 8),
    ...orDefault('epochs', 4, 2),
    ...orDefault('train-size', synthetic ? 2000 : undefined, 256),
    ...orDefault('test-size', synthetic ? 500 : undefined, 128),
    ...orDefault('seg-train-size', 1500, 128),
    ...orDefault('seg-test-size', 300, 64),
  };
  const epochs = intOption(sized, 'epochs', 1);
  return {
    experiments,
    convs,
    models,
    stem: stem[0],
    stages: parseStages(v.stages as string, 4),
    dataset: dataset[0],
    dataDir: v['data-dir'] as string | undefined,
    width: intOption(sized, 'width', 1),
    epochs,
    // Segmentation learns from fewer images per epoch; it gets more (shorter) epochs unless told.
    segEpochs: v.epochs !== undefined || quick ? epochs : 8,
    trainSize: optionalInt(sized, 'train-size', 1),
    testSize: optionalInt(sized, 'test-size', 1),
    segTrainSize: intOption(sized, 'seg-train-size', 1),
    segTestSize: intOption(sized, 'seg-test-size', 1),
    batchSize: intOption(v, 'batch-size', 1),
    segBatchSize: intOption(v, 'seg-batch-size', 1),
    lr: numberOption(v, 'lr', 0),
    offsetLrMult: numberOption(v, 'offset-lr-mult', 0),
    seeds: seeds.map(Number),
    outDir: String(v.out),
    quick,
  };
}
