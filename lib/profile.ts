/**
 * Where a piece of code spends its time, kernel by kernel: `profile(fn)` runs `fn` with every
 * call into the native addon timed (convolution forward, each gradient, batch norm, the
 * optimizer update, memory management...) and reports the totals per kernel, plus the time
 * spent outside native code (JavaScript, autograd bookkeeping, garbage collection).
 *
 *   const { report } = await profile(() => trainStep());
 *   console.log(report.toString());
 *
 * The timing wraps the addon's functions for the duration of `fn` only; calls made by other
 * code while an async `fn` awaits are counted too. Profiles do not nest.
 */
import { ArgumentError } from './errors';
import { interceptNative } from './native_intercept';

export interface KernelTime {
  /** The native function's name (e.g. conv2d, conv2dBackwardInput, deformConv2dBackward). */
  kernel: string;
  /** Wall time inside the function, summed over its calls, in milliseconds. */
  ms: number;
  calls: number;
  /** ms / the profile's total wall time. */
  share: number;
}

export interface ProfileReport {
  /** Wall time of the whole profiled function, in milliseconds. */
  totalMs: number;
  /** Of which inside native kernels. */
  nativeMs: number;
  /** Slowest first. */
  kernels: KernelTime[];
  /** A table: kernel, ms, calls, share, and the time outside native code. */
  toString(): string;
}

let active = false;

function formatReport(report: Omit<ProfileReport, 'toString'>): string {
  const rows = report.kernels.map((k) => [
    k.kernel,
    k.ms.toFixed(2),
    String(k.calls),
    `${(100 * k.share).toFixed(1)}%`,
  ]);
  const outside = report.totalMs - report.nativeMs;
  rows.push([
    '(outside native code)',
    outside.toFixed(2),
    '',
    `${(100 * (outside / (report.totalMs || 1))).toFixed(1)}%`,
  ]);
  rows.push(['total', report.totalMs.toFixed(2), '', '100.0%']);
  const header = ['kernel', 'ms', 'calls', 'share'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]): string =>
    r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}

/** Runs `fn` (sync or async) with the native kernels timed; returns its result and the report. */
export async function profile<T>(fn: () => T | Promise<T>): Promise<{ result: T; report: ProfileReport }> {
  if (typeof fn !== 'function') {
    throw new ArgumentError(`profile: expected fn to be a function but received ${typeof fn}`);
  }
  if (active) throw new ArgumentError('profile: a profile is already running (profiles do not nest)');
  const totals = new Map<string, { ms: number; calls: number }>();
  const restore = interceptNative((name, original) => {
    const entry = { ms: 0, calls: 0 };
    totals.set(name, entry);
    return (...args: unknown[]) => {
      const start = process.hrtime.bigint();
      try {
        return original(...args);
      } finally {
        entry.ms += Number(process.hrtime.bigint() - start) / 1e6;
        entry.calls += 1;
      }
    };
  });
  active = true;
  const start = process.hrtime.bigint();
  let result: T;
  try {
    result = await fn();
  } finally {
    restore();
    active = false;
  }
  const totalMs = Number(process.hrtime.bigint() - start) / 1e6;
  const kernels = [...totals.entries()]
    .filter(([, t]) => t.calls > 0)
    .map(([kernel, t]) => ({ kernel, ms: t.ms, calls: t.calls, share: totalMs > 0 ? t.ms / totalMs : 0 }))
    .sort((a, b) => b.ms - a.ms);
  const nativeMs = kernels.reduce((sum, k) => sum + k.ms, 0);
  const report = { totalMs, nativeMs, kernels };
  return { result, report: { ...report, toString: () => formatReport(report) } };
}
