/**
 * One configuration of an experiment, trained and measured: the network built with one conv
 * kind, trained with the experiment's optimiser, epochs and seed, then evaluated on every
 * test set. Everything a configuration shares with the others (data, initial weights of the
 * shared layers, batch order) comes from the seed, so configurations differ only in the conv.
 */
import { channelStats, DataLoader } from '../../lib/data';
import type { Module } from '../../lib/nn';
import * as optim from '../../lib/optim';
import { manualSeed } from '../../lib/random';
import { EpochStats, evaluate, fit } from '../../lib/train';
import { buildModel, buildOptimizer, ModelName } from '../run_config';
import type { ExperimentData } from './data';
import { offsetFigure, OffsetFigure } from './offsets';
import type { RunClock } from './run_clock';
import type { Experiment, Settings } from './settings';

export interface TestResult {
  name: string;
  loss: number;
  /** Classification accuracy, or pixel accuracy for segmentation. */
  accuracy: number;
  meanIoU?: number;
}

export interface RunResult {
  experiment: Experiment;
  model: ModelName;
  conv: string;
  /** Configuration label: the conv kind and where it is used. */
  label: string;
  seed: number;
  parameters: number;
  history: EpochStats[];
  tests: TestResult[];
  /** Seconds spent on the final evaluation over every test set. */
  testSeconds: number;
}

export interface RunSpec {
  experiment: Experiment;
  model: ModelName;
  conv: string;
  seed: number;
  epochs: number;
  data: ExperimentData;
}

export function configurationLabel(conv: string, stages: number[] | null, experiment: Experiment): string {
  if (conv === 'standard' || !stages) return conv;
  return `${conv} (${experiment === 'segmentation' ? 'levels' : 'stages'} ${stages.join(',')})`;
}

/** Trains and tests one configuration; with `withFigure`, also draws where its deformable layer samples. */
export async function runConfiguration(
  spec: RunSpec,
  s: Settings,
  clock: RunClock,
  log: (line: string) => void,
  withFigure: boolean,
): Promise<{ result: RunResult; figure: OffsetFigure | null }> {
  const { experiment, model: modelName, conv, seed, epochs, data } = spec;
  const stages = conv === 'standard' ? null : s.stages;
  manualSeed(seed); // the same initial weights for the layers the configurations share
  const net: Module = buildModel(modelName, { conv, stages, width: s.width, stem: s.stem, train: data.train });
  const label = configurationLabel(conv, stages, experiment);
  log(
    `\n== ${experiment}: ${modelName}, ${label}, seed ${seed}: ${net.numParameters().toLocaleString('en-US')} parameters`,
  );
  const normalize = channelStats(data.train);
  const optimizer = buildOptimizer('adam', net, s.lr, 0, s.offsetLrMult);
  const scheduler = new optim.CosineAnnealingLR(optimizer, { tMax: epochs });
  const batchSize = experiment === 'segmentation' ? s.segBatchSize : s.batchSize;
  const trainLoader = new DataLoader(data.train, { batchSize, shuffle: true, seed, dropLast: true, normalize });
  const loaders = data.tests.map((t) => new DataLoader(t.dataset, { batchSize: 100, normalize }));
  let epochStarted = Date.now();
  const { history } = await fit(net, optimizer, trainLoader, {
    epochs,
    valLoader: loaders[0],
    scheduler,
    log,
    onEpoch: () => {
      clock.epochDone(experiment, (Date.now() - epochStarted) / 1000);
      epochStarted = Date.now();
      log(clock.line());
    },
  });
  const testStarted = Date.now();
  const tests: TestResult[] = [];
  for (let i = 0; i < data.tests.length; i++) {
    const last = history[history.length - 1];
    // The headline test set was just evaluated after the last epoch: reuse it.
    const r =
      i === 0 && last.valLoss !== undefined
        ? { loss: last.valLoss, accuracy: last.valAccuracy ?? 0, meanIoU: last.valMeanIoU }
        : await evaluate(net, loaders[i]);
    tests.push({
      name: data.tests[i].name,
      loss: r.loss,
      accuracy: r.accuracy,
      ...(r.meanIoU !== undefined ? { meanIoU: r.meanIoU } : {}),
    });
  }
  const testSeconds = (Date.now() - testStarted) / 1000;
  const figure = withFigure ? offsetFigure(net, data.tests[0].dataset, normalize) : null;
  return {
    result: {
      experiment,
      model: modelName,
      conv,
      label,
      seed,
      parameters: net.numParameters(),
      history,
      tests,
      testSeconds,
    },
    figure,
  };
}
