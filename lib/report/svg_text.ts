/**
 * What the SVG charts share: XML escaping, a conservative estimate of how wide a label is
 * drawn (so margins and legends are sized to their text instead of guessed, and nothing is
 * clipped), "nice" axis ticks and the series palette.
 */
import { ArgumentError, describe } from '../errors';

export const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

export function escapeXml(s: string): string {
  if (typeof s !== 'string')
    throw new ArgumentError(`escapeXml: expected s to be a string but received ${describe(s)}`);
  return s.replace(
    /[<>&"']/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c] as string,
  );
}

// Advance widths in em of a wide sans-serif (DejaVu Sans, what Debian's browsers fall back
// to), rounded up; other fonts are narrower. Over-estimating costs a little white space,
// under-estimating clips a label.
const NARROW = new Set("il.,:;|!'()[]{} fjtI1".split(''));
const WIDE = new Set('mwMW%@'.split(''));

/** Estimated drawn width in pixels of `text` at `fontSize` px. */
export function textWidth(text: string, fontSize: number): number {
  if (typeof text !== 'string') {
    throw new ArgumentError(`textWidth: expected text to be a string but received ${describe(text)}`);
  }
  let em = 0;
  for (const ch of text) {
    if (NARROW.has(ch)) em += 0.36;
    else if (WIDE.has(ch)) em += 1.0;
    else if (ch >= 'A' && ch <= 'Z') em += 0.78;
    else if (ch >= '0' && ch <= '9') em += 0.64;
    else em += 0.64;
  }
  return Math.ceil(em * fontSize * 1.04) + 2;
}

/** "Nice" tick values covering [lo, hi] (1, 2 or 5 times a power of ten apart). */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  const span = hi - lo || 1;
  const raw = span / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9 * span; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

/** A tick value as a short label ("0.25", "120", "50k", "1.2M", "1e-4"). */
export function tickLabel(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e6) return `${Number((v / 1e6).toPrecision(3))}M`;
  if (a >= 1e4) return `${Number((v / 1e3).toPrecision(3))}k`;
  if (a < 1e-3) return v.toExponential(0);
  return String(Number(v.toPrecision(4)));
}
