/**
 * Trains one configuration:
 *
 *   npm run train -- --model resnet18 --conv deform --stages 3,4 --dataset synthetic --epochs 5
 *   npm run train -- --model resnet34 --dataset cifar10 --data-dir data/cifar-10-batches-bin --epochs 30
 *   npm run train -- --model unet --conv modulated --dataset synthetic-seg --epochs 5
 *   npm run train -- --dataset fashion-mnist --checkpoint-dir runs/fm --resume
 *
 * Prints the model's parameter count, a progress bar (or log lines when not on a terminal) and
 * per-epoch figures; with --checkpoint-dir it saves a checkpoint after every epoch and the final
 * weights as model.safetensors (PyTorch state-dict names).
 */
import { distributed } from '../lib';
import type { Module } from '../lib/nn';
import * as path from 'node:path';
import { channelStats, DataLoader } from '../lib/data';
import { manualSeed } from '../lib/random';
import { getNumThreads, setNumThreads } from '../lib/system';
import { fit, saveModel } from '../lib/train';
import * as optim from '../lib/optim';
import {
  buildModel,
  buildOptimizer,
  choiceOption,
  DATASETS,
  formatCount,
  intOption,
  loadDatasets,
  MODELS,
  numberOption,
  OFFSET_LR_MULT_OPTION,
  OptionSpec,
  OPTIMIZERS,
  parseCli,
  parseStages,
  UsageError,
  usageText,
} from './run_config';

const SPEC: Record<string, OptionSpec> = {
  model: { type: 'string', default: 'resnet18', help: `network: ${MODELS.join(', ')}` },
  conv: { type: 'string', default: 'standard', help: '3x3 conv kind: standard, deform, modulated, dynamic, octave' },
  stages: { type: 'string', default: 'all', help: "stages that use --conv (others standard), e.g. 3,4, or 'all'" },
  dataset: { type: 'string', default: 'synthetic', help: `data: ${DATASETS.join(', ')}` },
  'data-dir': {
    type: 'string',
    help: 'directory of the dataset files (fashion-mnist: Debian path by default; cifar10: required)',
  },
  epochs: { type: 'string', default: '5', help: 'epochs' },
  'batch-size': { type: 'string', default: '64', help: 'batch size' },
  lr: { type: 'string', default: '0.001', help: 'learning rate (cosine-annealed to 0)' },
  'offset-lr-mult': OFFSET_LR_MULT_OPTION,
  'weight-decay': { type: 'string', default: '0', help: 'weight decay' },
  optimizer: { type: 'string', default: 'adam', help: `optimizer: ${OPTIMIZERS.join(', ')}` },
  width: { type: 'string', help: 'channels of the first stage (ResNet default 64, U-Net default 16)' },
  stem: { type: 'string', default: 'cifar', help: 'ResNet stem: cifar (3x3, no pool) or imagenet (7x7 s2 + max pool)' },
  'train-size': { type: 'string', help: 'use only the first N training samples (synthetic: generate N, default 5000)' },
  'test-size': { type: 'string', help: 'use only the first N test samples (synthetic default 1000)' },
  augment: { type: 'boolean', default: false, help: 'random crop (padding 4) and horizontal flip' },
  'checkpoint-dir': { type: 'string', help: 'save a checkpoint after every epoch here' },
  resume: { type: 'boolean', default: false, help: 'continue from <checkpoint-dir>/last.safetensors' },
  threads: { type: 'string', help: 'native threads (default: all cores)' },
  distributed: {
    type: 'boolean',
    default: false,
    help: 'data-parallel over the processes of an mpirun job (each a slice of every batch; rank 0 logs and saves)',
  },
  seed: { type: 'string', default: '0', help: 'seed for data, initialisation and shuffling' },
  help: { type: 'boolean', default: false, help: 'show this help' },
};

async function main(): Promise<void> {
  const v = parseCli(process.argv.slice(2), SPEC);
  if (v.help) {
    console.log(usageText('npm run train --', SPEC));
    return;
  }
  const model = choiceOption(v, 'model', MODELS);
  const dataset = choiceOption(v, 'dataset', DATASETS);
  const conv = choiceOption(v, 'conv', ['standard', 'deform', 'modulated', 'dynamic', 'octave'] as const);
  const epochs = intOption(v, 'epochs', 1);
  const batchSize = intOption(v, 'batch-size', 1);
  const lr = numberOption(v, 'lr', 0);
  const weightDecay = numberOption(v, 'weight-decay', 0);
  const optimizerName = choiceOption(v, 'optimizer', OPTIMIZERS);
  const stem = choiceOption(v, 'stem', ['cifar', 'imagenet'] as const);
  const seed = intOption(v, 'seed', 0);
  const width = v.width !== undefined ? intOption(v, 'width', 1) : undefined;
  const trainSize = v['train-size'] !== undefined ? intOption(v, 'train-size', 1) : undefined;
  const testSize = v['test-size'] !== undefined ? intOption(v, 'test-size', 1) : undefined;
  // ResNet: 4 stages; U-Net (depth 3): 3 encoder levels + the bottleneck.
  const stages = parseStages(v.stages as string | undefined, 4);
  if (v.threads !== undefined) setNumThreads(intOption(v, 'threads', 1));
  if (v.resume && !v['checkpoint-dir']) throw new UsageError('--resume needs --checkpoint-dir');

  // Under mpirun: join the job first (threads are split among the processes of a machine).
  const ranks = v.distributed
    ? distributed.init({ threads: v.threads !== undefined ? intOption(v, 'threads', 1) : 'auto' })
    : { rank: 0, worldSize: 1 };
  const log = (line: string): void => {
    if (ranks.rank === 0) console.log(line);
  };
  manualSeed(seed);
  const { train, test } = loadDatasets(dataset, {
    dataDir: v['data-dir'] as string | undefined,
    trainSize,
    testSize,
    seed,
  });
  const built = buildModel(model, { conv, stages, width, stem, train });
  // Every rank builds the same model; the wrapper copies rank 0's weights and averages gradients.
  const net: Module = v.distributed ? new distributed.DistributedDataParallel(built) : built;
  const stats = channelStats(train);
  const augment = v.augment ? { randomCrop: { padding: 4 }, horizontalFlip: true } : {};
  const trainLoader = new DataLoader(train, {
    batchSize,
    shuffle: true,
    seed,
    dropLast: true,
    normalize: stats,
    ...augment,
    distributed: Boolean(v.distributed),
  });
  const testLoader = new DataLoader(test, { batchSize: 2 * batchSize, normalize: stats });
  const optimizer = buildOptimizer(optimizerName, net, lr, weightDecay, numberOption(v, 'offset-lr-mult', 0));
  const scheduler = new optim.CosineAnnealingLR(optimizer, { tMax: Math.max(1, epochs) });

  log(
    `${v.distributed ? `${ranks.worldSize} processes x ` : ''}${model} (${conv}${stages ? ` in stages ${stages.join(',')}` : ''}) on ${dataset}: ${formatCount(net.numParameters())} parameters, ` +
      `${train.length} train / ${test.length} test samples of ${train.channels}x${train.height}x${train.width}, ` +
      `batch ${batchSize}${v.distributed ? ' per process' : ''}, ${optimizerName} lr ${lr}, ${getNumThreads()} threads`,
  );
  const checkpointDir = v['checkpoint-dir'] as string | undefined;
  const { history } = await fit(net, optimizer, trainLoader, {
    epochs,
    valLoader: testLoader,
    scheduler,
    checkpointDir,
    resume: Boolean(v.resume),
  });
  if (checkpointDir && ranks.rank === 0) {
    const file = path.join(checkpointDir, 'model.safetensors');
    saveModel(built, file, { model, conv });
    log(`weights saved to ${file}`);
  }
  const last = history[history.length - 1];
  if (last) {
    const iou = last.valMeanIoU !== undefined ? `, mean IoU ${(100 * last.valMeanIoU).toFixed(1)}%` : '';
    log(`final test accuracy ${(100 * (last.valAccuracy ?? 0)).toFixed(1)}%${iou}`);
  }
}

main().catch((e: unknown) => {
  if (e instanceof UsageError) {
    console.error(`train: ${e.message}\n\n${usageText('npm run train --', SPEC)}`);
    process.exitCode = 2;
  } else {
    console.error(e instanceof Error ? `train: ${e.message}` : e);
    process.exitCode = 1;
  }
});
