/**
 * results/report.html: the job's results as a page people would rather look at than read.
 * Summary tables first, then per experiment and network: training and validation curves per
 * configuration, test results per test set, epoch-time bars with the ratio to the standard
 * network, parameter counts, and pictures of where the deformable layers sample.
 */
import {
  escapeXml,
  htmlFigures,
  htmlReport,
  htmlTable,
  PALETTE,
  ReportSection,
  svgBarChart,
  svgLineChart,
  type Series,
} from '../../lib/report';
import type { OffsetFigure } from './offsets';
import type { RunResult } from './run';
import type { Settings } from './settings';
import { ConfigSummary, summarise, summaryTable } from './summary';

export interface JobResults {
  date: string;
  machine: string;
  threads: number;
  isa: string;
  command: string;
  settings: Settings;
  descriptions: Partial<Record<RunResult['experiment'], string>>;
  runs: RunResult[];
  figures: ({ experiment: RunResult['experiment']; model: string; label: string } & OffsetFigure)[];
  totalSeconds: number;
}

/** Per-epoch mean over the seeds of one configuration. */
function meanCurve(
  runs: readonly RunResult[],
  pick: (h: RunResult['history'][number]) => number | undefined,
): [number, number][] {
  const epochs = Math.min(...runs.map((r) => r.history.length));
  const out: [number, number][] = [];
  for (let e = 0; e < epochs; e++) {
    const vs = runs.map((r) => pick(r.history[e])).filter((v): v is number => v !== undefined && Number.isFinite(v));
    if (vs.length) out.push([e + 1, vs.reduce((a, b) => a + b, 0) / vs.length]);
  }
  return out;
}

function curves(
  byConfig: Map<string, RunResult[]>,
  train: (h: RunResult['history'][number]) => number | undefined,
  val: (h: RunResult['history'][number]) => number | undefined,
  valName: string,
): Series[] {
  const series: Series[] = [];
  [...byConfig].forEach(([label, runs], i) => {
    const colour = PALETTE[i % PALETTE.length];
    series.push({ name: `${label}: ${valName}`, points: meanCurve(runs, val), colour });
    series.push({ name: `${label}: train`, points: meanCurve(runs, train), colour, dashed: true });
  });
  return series;
}

function experimentSections(
  results: JobResults,
  configs: ConfigSummary[],
  experiment: RunResult['experiment'],
): ReportSection[] {
  const sections: ReportSection[] = [];
  const runs = results.runs.filter((r) => r.experiment === experiment);
  for (const model of [...new Set(runs.map((r) => r.model))]) {
    const mine = runs.filter((r) => r.model === model);
    const cs = configs.filter((c) => c.experiment === experiment && c.model === model);
    const byConfig = new Map<string, RunResult[]>();
    for (const r of mine) byConfig.set(r.label, [...(byConfig.get(r.label) ?? []), r]);
    const headline = mine[0].tests[0].name;
    const seg = experiment === 'segmentation';
    const seeds = cs[0].seeds.length;
    const figures: { svg: string; caption?: string }[] = [];
    figures.push({
      svg: seg
        ? svgLineChart(
            curves(
              byConfig,
              (h) => h.trainMeanIoU && 100 * h.trainMeanIoU,
              (h) => h.valMeanIoU && 100 * h.valMeanIoU,
              `test (${headline})`,
            ),
            {
              title: 'mean IoU per epoch',
              xLabel: 'epoch',
              yLabel: 'mean IoU (%)',
            },
          )
        : svgLineChart(
            curves(
              byConfig,
              (h) => 100 * h.trainAccuracy,
              (h) => h.valAccuracy && 100 * h.valAccuracy,
              `test (${headline})`,
            ),
            {
              title: 'accuracy per epoch',
              xLabel: 'epoch',
              yLabel: 'accuracy (%)',
            },
          ),
      caption: `Solid: the ${headline} test set after each epoch; dashed: the training batches during it${seeds > 1 ? `; means over ${seeds} seeds` : ''}.`,
    });
    figures.push({
      svg: svgLineChart(
        curves(
          byConfig,
          (h) => h.trainLoss,
          (h) => h.valLoss,
          `test (${headline})`,
        ),
        { title: 'cross-entropy loss per epoch', xLabel: 'epoch', yLabel: 'loss' },
      ),
    });
    const labels = cs.map((c) => c.label);
    const testGroups = cs[0].tests.map((t, i) => ({
      label: t.name,
      values: cs.map((c) => 100 * (seg ? (c.tests[i].meanIoU?.mean ?? NaN) : c.tests[i].accuracy.mean)),
    }));
    figures.push({
      svg: svgBarChart(testGroups, {
        title: seg ? 'mean IoU per test set' : 'test accuracy per test set',
        series: labels,
        valueLabel: seg ? 'mean IoU (%)' : 'accuracy (%)',
        format: (v) => `${v.toFixed(1)}%`,
      }),
    });
    if (seg) {
      figures.push({
        svg: svgBarChart(
          cs[0].tests.map((t, i) => ({ label: t.name, values: cs.map((c) => 100 * c.tests[i].accuracy.mean) })),
          {
            title: 'pixel accuracy per test set',
            series: labels,
            valueLabel: 'pixel accuracy (%)',
            format: (v) => `${v.toFixed(1)}%`,
          },
        ),
      });
    }
    figures.push({
      svg: svgBarChart(
        cs.map((c) => ({
          label: c.label,
          values: [c.epochSeconds],
          notes: [Number.isFinite(c.timeRatio) ? `${c.timeRatio.toFixed(2)}x` : undefined],
        })),
        {
          title: 'training time per epoch',
          series: ['median epoch'],
          valueLabel: 'seconds (ratio to standard)',
          format: (v) => `${v.toFixed(1)} s`,
        },
      ),
    });
    figures.push({
      svg: svgBarChart(
        cs.map((c) => ({ label: c.label, values: [c.parameters] })),
        {
          title: 'parameters',
          series: ['parameters'],
          valueLabel: 'trainable parameters',
          format: (v) => v.toLocaleString('en-US'),
        },
      ),
    });
    const { header, rows } = summaryTable(cs, experiment);
    sections.push({
      heading: `${seg ? 'Segmentation' : 'Classification'}: ${model}`,
      text: [results.descriptions[experiment] ?? ''],
      html: [htmlTable(header, rows), htmlFigures(figures)],
    });
  }
  return sections;
}

function offsetSection(results: JobResults): ReportSection | null {
  if (results.figures.length === 0) return null;
  return {
    heading: 'Where the deformable layers sample',
    text: [
      'For test images, the sampling points of one output pixel on the object and one on the background (a colour each): ' +
        'crosses mark the regular 3x3 grid a plain convolution would read, lines lead to where the trained layer reads instead, ' +
        'dots are the points (their opacity is the modulation of DCNv2). The layer shown is the one whose offsets are largest.',
    ],
    html: results.figures.flatMap((f) => [
      `<h3>${escapeXml(`${f.experiment}, ${f.model}, ${f.label}`)}</h3>`,
      `<p>${escapeXml(`Layer ${f.layer} (one feature pixel = ${f.stride} image pixels): mean offset ${f.meanOffset.toFixed(2)} feature pixels.`)}</p>`,
      htmlFigures(f.svgs.map((svg) => ({ svg }))),
    ]),
  };
}

export function buildReport(results: JobResults): string {
  const configs = summarise(results.runs);
  const experiments = [...new Set(results.runs.map((r) => r.experiment))];
  const summary: ReportSection = {
    heading: 'Summary',
    text: [
      'Every configuration of an experiment has the same data, optimiser (Adam, cosine-annealed), epochs, seeds and initial weights for the layers they share; only the 3x3 convolution differs. ' +
        'Epoch time is the median training time per epoch; "vs standard" is its ratio to the plain network measured in the same run.',
    ],
    html: experiments.map((e) => {
      const { header, rows } = summaryTable(configs, e);
      return `<h3>${e}</h3>\n${htmlTable(header, rows)}`;
    }),
  };
  const s = results.settings;
  const sections: ReportSection[] = [summary, ...experiments.flatMap((e) => experimentSections(results, configs, e))];
  const offsets = offsetSection(results);
  if (offsets) sections.push(offsets);
  sections.push({
    heading: 'How this was made',
    text: [
      `Command: ${results.command}`,
      `Machine: ${results.machine}, ${results.threads} threads, ISA ${results.isa}; whole job ${results.totalSeconds.toFixed(0)} s.`,
      `Settings: width ${s.width}, stem ${s.stem}, adaptive conv in ${s.stages ? `stages/levels ${s.stages.join(',')}` : 'every stage'}, batch ${s.batchSize} (segmentation ${s.segBatchSize}), Adam lr ${s.lr} (offset predictors x${s.offsetLrMult}), ` +
        `epochs ${s.epochs} (segmentation ${s.segEpochs}), seeds ${s.seeds.join(',')}.`,
    ],
  });
  return htmlReport({
    title: 'flexconv: plain vs adaptive convolutions',
    subtitle: `${results.date.slice(0, 10)} · ${experiments.join(' and ')} · ${configs.length} configurations × ${s.seeds.length} seed${s.seeds.length > 1 ? 's' : ''} · ${results.machine}`,
    sections,
  });
}
