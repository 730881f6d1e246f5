/**
 * The whole main job: every experiment, network, conv kind and seed in turn, then the results
 * written atomically to `<out>/results.json` and `<out>/report.html` (and the summary tables
 * to `<out>/summary.md`). Progress lines go to `log`, each epoch followed by the whole job's
 * progress and estimated time left.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeFileAtomic } from '../../lib/io/atomic_write';
import { getNumThreads, isa } from '../../lib/system';
import { classificationData, ExperimentData, segmentationData } from './data';
import { buildReport, JobResults } from './report';
import { noGrad } from '../../lib/autograd';
import { tidy } from '../../lib/scope';
import { Tensor } from '../../lib/tensor';
import { buildModel, UsageError } from '../run_config';
import { configurationLabel, runConfiguration, RunSpec } from './run';
import { RunClock } from './run_clock';
import type { Experiment, Settings } from './settings';
import { markdownTable, summarise, summaryTable } from './summary';

export interface JobOutput {
  results: JobResults;
  files: { json: string; html: string; markdown: string };
  /** The summary tables as Markdown, one per experiment. */
  markdown: string;
}

/** Every run of the job, in order: per experiment, per network, per seed, per conv kind. */
function plan(s: Settings): Omit<RunSpec, 'data'>[] {
  const specs: Omit<RunSpec, 'data'>[] = [];
  for (const experiment of s.experiments) {
    const models = experiment === 'classification' ? s.models : (['unet'] as const);
    for (const model of models) {
      for (const seed of s.seeds) {
        for (const conv of s.convs)
          specs.push({
            experiment,
            model,
            conv,
            seed,
            epochs: experiment === 'classification' ? s.epochs : s.segEpochs,
          });
      }
    }
  }
  return specs;
}

/**
 * Builds every configuration once and runs one image through it, before any training: a
 * configuration that cannot run (octave convolutions on maps too small for its pooling, say)
 * fails the job in a second, naming itself, instead of after the ones before it have trained.
 */
function preflight(
  specs: Omit<RunSpec, 'data'>[],
  s: Settings,
  dataFor: (e: Experiment, seed: number) => ExperimentData,
): void {
  const seen = new Set<string>();
  for (const spec of specs) {
    const key = `${spec.experiment}|${spec.model}|${spec.conv}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const { train } = dataFor(spec.experiment, spec.seed);
    const stages = spec.conv === 'standard' ? null : s.stages;
    try {
      const net = buildModel(spec.model, { conv: spec.conv, stages, width: s.width, stem: s.stem, train });
      net.eval();
      const image = Tensor.from(train.images.subarray(0, train.channels * train.height * train.width), [
        1,
        train.channels,
        train.height,
        train.width,
      ]);
      tidy(() => noGrad(() => void net.forward(image)));
    } catch (e) {
      throw new UsageError(
        `the configuration ${spec.experiment} / ${spec.model} / ${configurationLabel(spec.conv, stages, spec.experiment)} cannot run on this data: ${(e as Error).message}`,
      );
    }
  }
}

export async function runJob(s: Settings, command: string, log: (line: string) => void): Promise<JobOutput> {
  const started = Date.now();
  const clock = new RunClock();
  const specs = plan(s);
  for (const spec of specs) clock.plan(spec.experiment, spec.epochs);
  log(
    `flexconv main job: ${specs.length} trainings (${s.experiments.join(', ')}; convs ${s.convs.join(', ')}; seeds ${s.seeds.join(', ')}), ${clock.total} epochs, ${getNumThreads()} threads, ISA ${isa().active}`,
  );

  const results: JobResults = {
    date: new Date().toISOString(),
    machine: `${os.cpus()[0]?.model ?? 'unknown CPU'} (${os.cpus().length} cores)`,
    threads: getNumThreads(),
    isa: isa().active,
    command,
    settings: s,
    descriptions: {},
    runs: [],
    figures: [],
    totalSeconds: 0,
  };
  // The data of an (experiment, seed) is built once and shared by its configurations.
  const dataCache = new Map<string, ExperimentData>();
  const dataFor = (experiment: Experiment, seed: number): ExperimentData => {
    const key = `${experiment}|${seed}`;
    let d = dataCache.get(key);
    if (!d) {
      dataCache.clear(); // one (experiment, seed) at a time: datasets can be large
      d = experiment === 'classification' ? classificationData(s, seed) : segmentationData(s, seed);
      dataCache.set(key, d);
      results.descriptions[experiment] = d.description;
    }
    return d;
  };
  preflight(specs, s, dataFor);
  for (const spec of specs) {
    const data = dataFor(spec.experiment, spec.seed);
    const withFigure = spec.seed === s.seeds[0] && (spec.conv === 'deform' || spec.conv === 'modulated');
    const { result, figure } = await runConfiguration({ ...spec, data }, s, clock, log, withFigure);
    results.runs.push(result);
    if (figure)
      results.figures.push({ experiment: spec.experiment, model: spec.model, label: result.label, ...figure });
  }
  results.totalSeconds = (Date.now() - started) / 1000;

  const configs = summarise(results.runs);
  const markdown = s.experiments
    .map((e) => {
      const { header, rows } = summaryTable(configs, e);
      return `### ${e}\n\n${markdownTable(header, rows)}`;
    })
    .join('\n\n');
  fs.mkdirSync(s.outDir, { recursive: true });
  const files = {
    json: path.join(s.outDir, 'results.json'),
    html: path.join(s.outDir, 'report.html'),
    markdown: path.join(s.outDir, 'summary.md'),
  };
  // The figures are large SVG text: the report holds them, the JSON keeps the numbers.
  const { figures, ...numbers } = results;
  writeFileAtomic(
    files.json,
    `${JSON.stringify({ ...numbers, figures: figures.map(({ svgs, ...f }) => ({ ...f, images: svgs.length })) }, null, 2)}\n`,
  );
  writeFileAtomic(files.html, buildReport(results));
  writeFileAtomic(
    files.markdown,
    `${markdown}\n\n${results.command}; ${results.machine}, ${results.threads} threads, ISA ${results.isa}; job ${results.totalSeconds.toFixed(0)} s\n`,
  );
  return { results, files, markdown };
}
