/**
 * Benchmark harness shared by every suite: timing (warmup + timed iterations, median and
 * inter-quartile range), interleaved comparison with an anchor, a table printer and JSON rows.
 *
 * A suite is `{ name, run: async (opts) => rows }` registered in scripts/bench.ts. A row is a
 * flat record of columns; `compareRow()` builds the standard one: our median, the anchor's
 * median measured in the same run, and `vs anchor` = anchor time / our time (> 1: we are faster).
 */
import { noGrad, ops, Tensor, tidy } from '../../lib';

export interface BenchOptions {
  /** Print rows as JSON instead of a table. */
  json: boolean;
  /** Thread counts to run (from --threads N; suites default to [1, 2]). */
  threads: number[] | null;
  /** Fewer and smaller cases, fewer iterations (smoke test of the suite). */
  quick: boolean;
  /** Also print the time per native kernel (suites that support it; to stderr, so --json stays clean). */
  profile?: boolean;
}

export type Cell = string | number | null;
export type BenchRow = Record<string, Cell>;

export interface Suite {
  name: string;
  run: (opts: BenchOptions) => Promise<BenchRow[]>;
}

export interface Measurement {
  /** Milliseconds per call. */
  median: number;
  q1: number;
  q3: number;
  /** q3 - q1, in milliseconds. */
  iqr: number;
  min: number;
  iters: number;
}

export interface MeasureOptions {
  /** Untimed calls first (default 2). */
  warmup?: number;
  /**
   * Keep warming up (whole rounds) until this many milliseconds have passed, for code whose
   * JavaScript V8 compiles only after many calls (a network's forward between small kernels).
   */
  warmupMs?: number;
  /** Fixed number of timed calls; without it, as many as fit in `targetMs` within [minIters, maxIters]. */
  iters?: number;
  targetMs?: number;
  minIters?: number;
  maxIters?: number;
}

type Fn = () => unknown;

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 1) return sorted[0];
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos),
    hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

export function summarize(samples: number[]): Measurement {
  const s = [...samples].sort((a, b) => a - b);
  const q1 = quantile(s, 0.25),
    q3 = quantile(s, 0.75);
  return { median: quantile(s, 0.5), q1, q3, iqr: q3 - q1, min: s[0], iters: s.length };
}

async function timeOnce(fn: Fn): Promise<number> {
  const t0 = process.hrtime.bigint();
  const r = fn();
  if (r instanceof Promise) await r;
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

function iterationCount(opts: MeasureOptions, estimateMs: number): number {
  if (opts.iters !== undefined) return opts.iters;
  const target = opts.targetMs ?? 1500;
  const n = Math.ceil(target / Math.max(estimateMs, 1e-3));
  return Math.max(opts.minIters ?? 5, Math.min(opts.maxIters ?? 200, n));
}

/** Times `fn` (sync or async): `warmup` untimed calls, then timed calls; median and IQR in ms. */
export async function measure(fn: Fn, opts: MeasureOptions = {}): Promise<Measurement> {
  return (await measureInterleaved([fn], opts))[0];
}

/**
 * Times several functions in alternation (a, b, a, b, ...) so that a noisy neighbour on a
 * shared machine slows all of them alike and their ratio stays meaningful.
 */
export async function measureInterleaved(fns: Fn[], opts: MeasureOptions = {}): Promise<Measurement[]> {
  const warmup = Math.max(1, opts.warmup ?? 2);
  const warmupMs = opts.warmupMs ?? 0;
  let estimate = 0;
  let warmedMs = 0;
  for (let w = 0; w < warmup || warmedMs < warmupMs; w++) {
    let round = 0;
    for (const fn of fns) round += await timeOnce(fn);
    estimate = round;
    warmedMs += round;
  }
  const iters = iterationCount(opts, estimate);
  const samples: number[][] = fns.map(() => []);
  for (let i = 0; i < iters; i++) {
    for (let f = 0; f < fns.length; f++) samples[f].push(await timeOnce(fns[f]));
  }
  return samples.map(summarize);
}

/** A measurement of `calls` calls as the measurement of one (for calls too short to time singly). */
export function perCall(m: Measurement, calls: number): Measurement {
  const scale = (x: number): number => x / calls;
  return { ...m, median: scale(m.median), q1: scale(m.q1), q3: scale(m.q3), iqr: scale(m.iqr), min: scale(m.min) };
}

export function formatMs(ms: number): string {
  if (ms >= 100) return ms.toFixed(0);
  if (ms >= 10) return ms.toFixed(1);
  if (ms >= 1) return ms.toFixed(2);
  return ms.toFixed(3);
}

export function formatRatio(r: number): string {
  return `${r.toFixed(2)}x`;
}

/**
 * The standard comparison row: `case`, `threads`, our median (ms) and IQR, the anchor's name
 * and median, and `vs anchor` (anchor / ours). Extra columns go after, in insertion order.
 */
export function compareRow(
  name: string,
  threads: number,
  ours: Measurement,
  anchorName: string,
  anchor: Measurement,
  extra: BenchRow = {},
): BenchRow {
  return {
    case: name,
    threads,
    'flexconv ms': round(ours.median),
    'IQR ms': round(ours.iqr),
    anchor: anchorName,
    'anchor ms': round(anchor.median),
    'vs anchor': round(anchor.median / ours.median, 3),
    ...extra,
  };
}

export function round(x: number, digits = 4): number {
  const p = 10 ** Math.max(0, digits - Math.max(0, Math.floor(Math.log10(Math.abs(x) || 1)) + 1));
  return Math.round(x * p) / p;
}

function cellText(key: string, v: Cell): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  if (key === 'vs anchor' || key.endsWith(' x') || key.endsWith('scaling')) return formatRatio(v);
  if (key.endsWith('ms')) return formatMs(v);
  return String(v);
}

/** A Markdown-compatible table (columns: union of the rows' keys in first-seen order). */
export function formatTable(rows: BenchRow[]): string {
  if (rows.length === 0) return '(no rows)';
  const keys: string[] = [];
  for (const r of rows) for (const k of Object.keys(r)) if (!keys.includes(k)) keys.push(k);
  const cells = rows.map((r) => keys.map((k) => cellText(k, r[k] ?? null)));
  const widths = keys.map((k, i) => Math.max(k.length, ...cells.map((c) => c[i].length)));
  const numeric = keys.map((k, i) => rows.every((r) => typeof r[k] !== 'string' || cells.length === 0) && i > 0);
  const line = (vals: string[]): string =>
    `| ${vals.map((v, i) => (numeric[i] ? v.padStart(widths[i]) : v.padEnd(widths[i]))).join(' | ')} |`;
  const sep = `|${widths.map((w, i) => (numeric[i] ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`;
  return [line(keys), sep, ...cells.map(line)].join('\n');
}

/** Threads to run: --threads N if given, else `defaults`. */
export function threadList(opts: BenchOptions, defaults: number[] = [1, 2]): number[] {
  return opts.threads ?? defaults;
}

const peaks = new Map<number, number>();

/**
 * The `GFLOP/s` and `% peak` columns of a conv row: `flops` (the convolution's nominal
 * multiply-add count x 2, forward; x 3 for forward + backward) done in `ms`, against
 * measuredPeakGflops at `threads`.
 */
export function rateColumns(flops: number, ms: number, threads: number): BenchRow {
  const gflops = flops / (ms * 1e6);
  return { 'GFLOP/s': round(gflops, 3), '% peak': Math.round((100 * gflops) / measuredPeakGflops(threads)) };
}

/**
 * Nominal FLOPs of a convolution's forward (2 per multiply-add): batch x outputs x
 * (inputs / groups) x kernel taps x output pixels.
 */
export function convFlops(
  batch: number,
  outChannels: number,
  inPerGroup: number,
  taps: number,
  outPixels: number,
): number {
  return 2 * batch * outChannels * inPerGroup * taps * outPixels;
}

/**
 * This machine's measured fp32 peak at the current thread count, in GFLOP/s: the best of a
 * few 1024 x 1024 x 1024 products by flexconv's GEMM (what the gemm suite reports as its best
 * square rows; ~92% of the FMA units' theoretical rate). Conv rows show their GFLOP/s as a
 * percentage of it. Measured once per thread count per run.
 */
export function measuredPeakGflops(threads: number): number {
  const known = peaks.get(threads);
  if (known !== undefined) return known;
  const n = 1024;
  const a = Tensor.randn([n, n]);
  const b = Tensor.randn([n, n]);
  let best = Infinity;
  for (let i = 0; i < 6; i++) {
    const t0 = process.hrtime.bigint();
    tidy(() => noGrad(() => void ops.matmul(a, b)));
    if (i > 0) best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e6);
  }
  a.dispose();
  b.dispose();
  const peak = (2 * n * n * n) / (best * 1e6);
  peaks.set(threads, peak);
  return peak;
}
