/**
 * `npm start`: the classic DCN experiment in miniature. Trains the same ResNet with plain,
 * deformable (DCNv1) and modulated deformable (DCNv2) convolutions on the built-in glyph
 * dataset (where geometry is what separates the classes), a few epochs each, and reports epoch
 * time, its ratio to the plain network, train/test accuracy and parameter counts. Writes
 * results/compare.json and results/compare-accuracy.svg (test accuracy per epoch).
 *
 * The defaults take a few minutes on 2 cores; everything can be scaled:
 *   npm start -- --epochs 10 --train-size 10000 --width 32 --convs standard,deform --stages 2,3,4
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { channelStats, DataLoader } from '../lib/data';
import { writeFileAtomic } from '../lib/io/atomic_write';
import * as optim from '../lib/optim';
import { manualSeed } from '../lib/random';
import { getNumThreads, isa, setNumThreads } from '../lib/system';
import { EpochStats, fit, svgLineChart } from '../lib/train';
import {
  buildModel,
  buildOptimizer,
  formatCount,
  intOption,
  loadDatasets,
  numberOption,
  OFFSET_LR_MULT_OPTION,
  OptionSpec,
  parseCli,
  parseStages,
  UsageError,
  usageText,
} from './run_config';

const SPEC: Record<string, OptionSpec> = {
  convs: { type: 'string', default: 'standard,deform,modulated', help: 'conv kinds to compare, comma-separated' },
  stages: { type: 'string', default: '2,3,4', help: "stages using the adaptive conv (DCNv2 uses 2,3,4 = conv3-conv5), or 'all'" },
  model: { type: 'string', default: 'resnet18', help: 'resnet18 or resnet34' },
  width: { type: 'string', default: '16', help: 'channels of the first ResNet stage' },
  epochs: { type: 'string', default: '4', help: 'epochs per configuration' },
  'train-size': { type: 'string', default: '2000', help: 'generated training samples' },
  'test-size': { type: 'string', default: '500', help: 'generated test samples' },
  'batch-size': { type: 'string', default: '32', help: 'batch size' },
  lr: { type: 'string', default: '0.002', help: 'Adam learning rate (cosine-annealed)' },
  'offset-lr-mult': OFFSET_LR_MULT_OPTION,
  threads: { type: 'string', help: 'native threads (default: all cores)' },
  seed: { type: 'string', default: '1', help: 'seed for data and initialisation' },
  out: { type: 'string', default: 'results', help: 'output directory' },
  help: { type: 'boolean', default: false, help: 'show this help' },
};

interface Run {
  name: string;
  conv: string;
  parameters: number;
  history: EpochStats[];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const line = (r: string[]): string => `| ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
  return [line(rows[0]), `|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`, ...rows.slice(1).map(line)].join('\n');
}

async function main(): Promise<void> {
  const v = parseCli(process.argv.slice(2), SPEC);
  if (v.help) {
    console.log(usageText('npm start --', SPEC));
    return;
  }
  const convs = String(v.convs).split(',').map((s) => s.trim()).filter(Boolean);
  for (const c of convs) {
    if (!['standard', 'deform', 'modulated', 'dynamic', 'octave'].includes(c)) {
      throw new UsageError(`--convs: expected kinds among standard, deform, modulated, dynamic, octave but received ${JSON.stringify(c)}`);
    }
  }
  if (convs.length === 0) throw new UsageError('--convs: expected at least one conv kind');
  const model = v.model === 'resnet34' ? 'resnet34' : v.model === 'resnet18' ? 'resnet18' : null;
  if (!model) throw new UsageError(`--model: expected resnet18 or resnet34 but received ${JSON.stringify(v.model)}`);
  const stages = parseStages(v.stages as string, 4);
  const width = intOption(v, 'width', 1);
  const epochs = intOption(v, 'epochs', 1);
  const trainSize = intOption(v, 'train-size', 1);
  const testSize = intOption(v, 'test-size', 1);
  const batchSize = intOption(v, 'batch-size', 1);
  const lr = numberOption(v, 'lr', 0);
  const offsetLrMult = numberOption(v, 'offset-lr-mult', 0);
  const seed = intOption(v, 'seed', 0);
  const outDir = String(v.out);
  if (v.threads !== undefined) setNumThreads(intOption(v, 'threads', 1));

  const t0 = Date.now();
  const { train, test } = loadDatasets('synthetic', { trainSize, testSize, seed });
  const stats = channelStats(train);
  console.log(
    `flexconv comparison: ${model} (width ${width}, CIFAR stem) on the built-in glyph dataset ` +
      `(${train.length} train / ${test.length} test, ${train.channels}x${train.height}x${train.width}, ${train.numClasses} classes), ` +
      `${epochs} epochs, batch ${batchSize}, Adam lr ${lr} (offset predictors x${offsetLrMult}), ${getNumThreads()} threads, ISA ${isa().active}`,
  );

  const runs: Run[] = [];
  for (const conv of convs) {
    manualSeed(seed); // same initial weights for the parts the variants share
    const net = buildModel(model, { conv, stages: conv === 'standard' ? null : stages, width, stem: 'cifar', train });
    const name = conv === 'standard' || !stages ? conv : `${conv} (stages ${stages.join(',')})`;
    console.log(`\n== ${name}: ${formatCount(net.numParameters())} parameters`);
    const optimizer = buildOptimizer('adam', net, lr, 0, offsetLrMult);
    const scheduler = new optim.CosineAnnealingLR(optimizer, { tMax: epochs });
    const trainLoader = new DataLoader(train, { batchSize, shuffle: true, seed, dropLast: true, normalize: stats });
    const testLoader = new DataLoader(test, { batchSize: 100, normalize: stats });
    const { history } = await fit(net, optimizer, trainLoader, { epochs, valLoader: testLoader, scheduler });
    runs.push({ name, conv, parameters: net.numParameters(), history });
  }

  const base = runs.find((r) => r.conv === 'standard') ?? runs[0];
  const baseTime = median(base.history.map((h) => h.seconds));
  const pct = (x: number | undefined): string => `${(100 * (x ?? 0)).toFixed(1)}%`;
  const rows = [['conv', 'parameters', 'epoch s', `vs ${base.conv}`, 'img/s', 'train acc', 'test acc', 'best test acc']];
  for (const r of runs) {
    const t = median(r.history.map((h) => h.seconds));
    const last = r.history[r.history.length - 1];
    rows.push([
      r.name,
      formatCount(r.parameters),
      t.toFixed(1),
      `${(t / baseTime).toFixed(2)}x`,
      median(r.history.map((h) => h.imagesPerSecond)).toFixed(0),
      pct(last.trainAccuracy),
      pct(last.valAccuracy),
      pct(Math.max(...r.history.map((h) => h.valAccuracy ?? 0))),
    ]);
  }
  const totalSeconds = (Date.now() - t0) / 1000;
  // CPU time per thread approximates the run time on an idle machine when this one is shared.
  const cpu = process.cpuUsage();
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  console.log(
    `\n${table(rows)}\n\nepoch s: median training time per epoch; total run time ${totalSeconds.toFixed(0)} s ` +
      `(process CPU time ${cpuSeconds.toFixed(0)} s over ${getNumThreads()} threads)`,
  );

  fs.mkdirSync(outDir, { recursive: true });
  const jsonFile = path.join(outDir, 'compare.json');
  const svgFile = path.join(outDir, 'compare-accuracy.svg');
  const settings = { model, width, stages, epochs, trainSize, testSize, batchSize, lr, offsetLrMult, seed, threads: getNumThreads(), isa: isa().active };
  writeFileAtomic(
    jsonFile,
    `${JSON.stringify({ date: new Date().toISOString(), cpu: os.cpus()[0]?.model, settings, totalSeconds, cpuSeconds, runs }, null, 2)}\n`,
  );
  const svg = svgLineChart(
    runs.map((r) => ({ name: r.name, points: r.history.map((h) => [h.epoch, 100 * (h.valAccuracy ?? 0)] as [number, number]) })),
    { title: `${model} on the glyph dataset: test accuracy`, xLabel: 'epoch', yLabel: 'test accuracy (%)' },
  );
  writeFileAtomic(svgFile, svg);
  console.log(`wrote ${jsonFile} and ${svgFile}`);
}

main().catch((e: unknown) => {
  if (e instanceof UsageError) {
    console.error(`compare: ${e.message}\n\n${usageText('npm start --', SPEC)}`);
    process.exitCode = 2;
  } else {
    console.error(e instanceof Error ? `compare: ${e.message}` : e);
    process.exitCode = 1;
  }
});
