/**
 * Results per configuration, averaged over seeds, and the tables made from them (console,
 * Markdown for README / BENCHMARKS, HTML for the report). A configuration is one experiment,
 * network and conv kind; its epoch time is the median over its epochs (machines are noisy),
 * shown with its ratio to the standard configuration of the same experiment and network.
 */
import type { RunResult } from './run';

export interface ConfigSummary {
  experiment: RunResult['experiment'];
  model: string;
  conv: string;
  label: string;
  seeds: number[];
  parameters: number;
  /** Mean over seeds of each run's median epoch time. */
  epochSeconds: number;
  /** epochSeconds / the standard configuration's (NaN without one). */
  timeRatio: number;
  trainAccuracy: number;
  /** Per test set, mean over seeds (with min and max when there are several seeds). */
  tests: { name: string; accuracy: Spread; meanIoU?: Spread }[];
}

export interface Spread {
  mean: number;
  min: number;
  max: number;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function spread(xs: readonly number[]): Spread {
  return { mean: xs.reduce((a, b) => a + b, 0) / xs.length, min: Math.min(...xs), max: Math.max(...xs) };
}

export function summarise(runs: readonly RunResult[]): ConfigSummary[] {
  const groups = new Map<string, RunResult[]>();
  for (const r of runs) {
    const key = `${r.experiment}|${r.model}|${r.label}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const out: ConfigSummary[] = [];
  for (const rs of groups.values()) {
    const first = rs[0];
    out.push({
      experiment: first.experiment,
      model: first.model,
      conv: first.conv,
      label: first.label,
      seeds: rs.map((r) => r.seed),
      parameters: first.parameters,
      epochSeconds: spread(rs.map((r) => median(r.history.map((h) => h.seconds)))).mean,
      timeRatio: NaN,
      trainAccuracy: spread(rs.map((r) => r.history[r.history.length - 1].trainAccuracy)).mean,
      tests: first.tests.map((t, i) => ({
        name: t.name,
        accuracy: spread(rs.map((r) => r.tests[i].accuracy)),
        ...(t.meanIoU !== undefined ? { meanIoU: spread(rs.map((r) => r.tests[i].meanIoU ?? 0)) } : {}),
      })),
    });
  }
  for (const c of out) {
    const base = out.find((b) => b.experiment === c.experiment && b.model === c.model && b.conv === 'standard');
    c.timeRatio = base ? c.epochSeconds / base.epochSeconds : NaN;
  }
  return out;
}

export const pct = (v: number): string => `${(100 * v).toFixed(1)}%`;

function spreadText(s: Spread, seeds: number): string {
  return seeds > 1 ? `${pct(s.mean)} (${(100 * s.min).toFixed(1)}-${(100 * s.max).toFixed(1)})` : pct(s.mean);
}

/** Header and rows of the summary table of one experiment (string cells). */
export function summaryTable(
  configs: readonly ConfigSummary[],
  experiment: RunResult['experiment'],
): { header: string[]; rows: string[][] } {
  const cs = configs.filter((c) => c.experiment === experiment);
  if (cs.length === 0) return { header: [], rows: [] };
  const multiModel = new Set(cs.map((c) => c.model)).size > 1;
  const header = [...(multiModel ? ['network'] : []), 'conv', 'parameters', 'epoch s', 'vs standard'];
  if (experiment === 'classification') {
    header.push('train acc', ...cs[0].tests.map((t) => `test acc: ${t.name}`));
  } else {
    header.push('train pixel acc', ...cs[0].tests.flatMap((t) => [`mIoU: ${t.name}`, `pixel acc: ${t.name}`]));
  }
  const rows = cs.map((c) => [
    ...(multiModel ? [c.model] : []),
    c.label,
    c.parameters.toLocaleString('en-US'),
    c.epochSeconds.toFixed(1),
    Number.isFinite(c.timeRatio) ? `${c.timeRatio.toFixed(2)}x` : '-',
    pct(c.trainAccuracy),
    ...c.tests.flatMap((t) =>
      experiment === 'classification'
        ? [spreadText(t.accuracy, c.seeds.length)]
        : [spreadText(t.meanIoU ?? t.accuracy, c.seeds.length), spreadText(t.accuracy, c.seeds.length)],
    ),
  ]);
  return { header, rows };
}

/** A Markdown table (first column left-aligned, the rest right-aligned), also readable as plain text. */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  const line = (r: readonly string[]): string =>
    `| ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}
