/**
 * A dependency-free SVG line chart (one line per series, axes with ticks, a legend), used by
 * `npm start` to plot test accuracy per epoch of each configuration.
 */
export interface Series {
  name: string;
  /** [x, y] points in increasing x. */
  points: [number, number][];
}

export interface ChartOptions {
  title?: string;
  xLabel?: string;
  yLabel?: string;
  /** Fixed y range (default: the data's range, padded). */
  yRange?: [number, number];
  width?: number;
  height?: number;
}

const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c] as string);
}

/** "Nice" tick values covering [lo, hi] (1, 2 or 5 times a power of ten apart). */
function ticks(lo: number, hi: number, count = 5): number[] {
  const span = hi - lo || 1;
  const raw = span / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9 * span; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

export function svgLineChart(series: readonly Series[], options: ChartOptions = {}): string {
  const W = options.width ?? 640;
  const H = options.height ?? 400;
  const m = { left: 60, right: 150, top: options.title ? 40 : 20, bottom: 50 };
  const all = series.flatMap((s) => s.points);
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]);
  const xMin = xs.length ? Math.min(...xs) : 0;
  const xMax = xs.length ? Math.max(...xs) : 1;
  let [yMin, yMax] = options.yRange ?? [ys.length ? Math.min(...ys) : 0, ys.length ? Math.max(...ys) : 1];
  if (!options.yRange) {
    const pad = (yMax - yMin || 1) * 0.08;
    yMin -= pad;
    yMax += pad;
  }
  const px = (x: number): number => m.left + ((x - xMin) / (xMax - xMin || 1)) * (W - m.left - m.right);
  const py = (y: number): number => H - m.bottom - ((y - yMin) / (yMax - yMin || 1)) * (H - m.top - m.bottom);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  if (options.title) out.push(`<text x="${W / 2}" y="24" text-anchor="middle" font-size="15">${escapeXml(options.title)}</text>`);
  for (const t of ticks(yMin, yMax)) {
    out.push(`<line x1="${m.left}" x2="${W - m.right}" y1="${py(t)}" y2="${py(t)}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${m.left - 6}" y="${py(t) + 4}" text-anchor="end">${t}</text>`);
  }
  const xTicks = xMax - xMin <= 12 ? Array.from({ length: Math.round(xMax - xMin) + 1 }, (_, i) => xMin + i) : ticks(xMin, xMax);
  for (const t of xTicks) out.push(`<text x="${px(t)}" y="${H - m.bottom + 18}" text-anchor="middle">${t}</text>`);
  out.push(`<line x1="${m.left}" x2="${m.left}" y1="${m.top}" y2="${H - m.bottom}" stroke="black"/>`);
  out.push(`<line x1="${m.left}" x2="${W - m.right}" y1="${H - m.bottom}" y2="${H - m.bottom}" stroke="black"/>`);
  if (options.xLabel) out.push(`<text x="${(m.left + W - m.right) / 2}" y="${H - 12}" text-anchor="middle">${escapeXml(options.xLabel)}</text>`);
  if (options.yLabel) {
    out.push(`<text transform="translate(16 ${(m.top + H - m.bottom) / 2}) rotate(-90)" text-anchor="middle">${escapeXml(options.yLabel)}</text>`);
  }
  series.forEach((s, i) => {
    const colour = COLOURS[i % COLOURS.length];
    const pts = s.points.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ');
    out.push(`<polyline fill="none" stroke="${colour}" stroke-width="2" points="${pts}"/>`);
    for (const [x, y] of s.points) out.push(`<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="3" fill="${colour}"/>`);
    const ly = m.top + 10 + 20 * i;
    out.push(`<line x1="${W - m.right + 12}" x2="${W - m.right + 32}" y1="${ly}" y2="${ly}" stroke="${colour}" stroke-width="2"/>`);
    out.push(`<text x="${W - m.right + 38}" y="${ly + 4}">${escapeXml(s.name)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
