/**
 * A dependency-free SVG line chart: one line per series (solid or dashed, so a configuration's
 * training and validation curves share a colour), axes with ticks, and a legend on the right
 * whose width is measured from its labels (long configuration names are never cut off).
 */
import { expectOptionsObject } from '../check';
import { ArgumentError, describe } from '../errors';
import { escapeXml, niceTicks, PALETTE, textWidth, tickLabel } from './svg_text';

export interface Series {
  name: string;
  /** [x, y] points in increasing x. */
  points: [number, number][];
  /** Line colour (default: the palette, by series index). */
  colour?: string;
  /** Draw the line dashed (e.g. the training curve next to the solid validation curve). */
  dashed?: boolean;
}

export interface ChartOptions {
  title?: string;
  xLabel?: string;
  yLabel?: string;
  /** Fixed y range (default: the data's range, padded). */
  yRange?: [number, number];
  /** Width of the plotting area in pixels (default 440); the legend and axes add to it. */
  plotWidth?: number;
  /** Height of the plotting area in pixels (default 260). */
  plotHeight?: number;
}

const FONT = 12;
const TITLE_FONT = 15;

export function svgLineChart(series: readonly Series[], options: ChartOptions = {}): string {
  if (
    !Array.isArray(series as unknown) ||
    !series.every((s) => s !== null && typeof s === 'object' && Array.isArray(s.points))
  ) {
    throw new ArgumentError(
      `svgLineChart: expected series to be an array of { name, points } but received ${describe(series)}`,
    );
  }
  expectOptionsObject('svgLineChart', options);
  const pw = options.plotWidth ?? 440;
  const ph = options.plotHeight ?? 260;
  const all = series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]);
  const xMin = xs.length ? Math.min(...xs) : 0;
  const xMax = xs.length ? Math.max(...xs) : 1;
  let [yMin, yMax] = options.yRange ?? [ys.length ? Math.min(...ys) : 0, ys.length ? Math.max(...ys) : 1];
  if (!options.yRange) {
    const pad = (yMax - yMin || Math.abs(yMax) || 1) * 0.08;
    yMin -= pad;
    yMax += pad;
  }
  const yTicks = niceTicks(yMin, yMax);
  const xTicks =
    xMax - xMin <= 12 && Number.isInteger(xMin) && Number.isInteger(xMax)
      ? Array.from({ length: xMax - xMin + 1 }, (_, i) => xMin + i)
      : niceTicks(xMin, xMax);
  const yTickWidth = Math.max(0, ...yTicks.map((t) => textWidth(tickLabel(t), FONT)));
  const legendWidth = series.length ? 48 + Math.max(...series.map((s) => textWidth(s.name, FONT))) : 0;
  const m = {
    left: 10 + (options.yLabel ? 22 : 0) + yTickWidth + 8,
    right: legendWidth + 10,
    top: options.title ? 40 : 16,
    bottom: 30 + (options.xLabel ? 22 : 0),
  };
  const W = m.left + pw + m.right;
  // The legend may be taller than the plot.
  const legendHeight = m.top + 10 + 20 * series.length;
  const H = Math.max(m.top + ph + m.bottom, legendHeight);
  const titleWidth = options.title ? textWidth(options.title, TITLE_FONT) : 0;
  const width = Math.max(W, titleWidth + 20);
  const px = (x: number): number => m.left + ((x - xMin) / (xMax - xMin || 1)) * pw;
  const py = (y: number): number => m.top + ph - ((y - yMin) / (yMax - yMin || 1)) * ph;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${H}" viewBox="0 0 ${width} ${H}" font-family="sans-serif" font-size="${FONT}">`,
  );
  out.push(`<rect width="${width}" height="${H}" fill="white"/>`);
  if (options.title)
    out.push(
      `<text x="${width / 2}" y="24" text-anchor="middle" font-size="${TITLE_FONT}">${escapeXml(options.title)}</text>`,
    );
  for (const t of yTicks) {
    if (t < yMin || t > yMax) continue;
    out.push(`<line x1="${m.left}" x2="${m.left + pw}" y1="${py(t)}" y2="${py(t)}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${m.left - 6}" y="${py(t) + 4}" text-anchor="end">${tickLabel(t)}</text>`);
  }
  for (const t of xTicks)
    out.push(`<text x="${px(t)}" y="${m.top + ph + 18}" text-anchor="middle">${tickLabel(t)}</text>`);
  out.push(`<line x1="${m.left}" x2="${m.left}" y1="${m.top}" y2="${m.top + ph}" stroke="black"/>`);
  out.push(`<line x1="${m.left}" x2="${m.left + pw}" y1="${m.top + ph}" y2="${m.top + ph}" stroke="black"/>`);
  if (options.xLabel)
    out.push(
      `<text x="${m.left + pw / 2}" y="${m.top + ph + 42}" text-anchor="middle">${escapeXml(options.xLabel)}</text>`,
    );
  if (options.yLabel) {
    out.push(
      `<text transform="translate(${10 + FONT} ${m.top + ph / 2}) rotate(-90)" text-anchor="middle">${escapeXml(options.yLabel)}</text>`,
    );
  }
  series.forEach((s, i) => {
    const colour = s.colour ?? PALETTE[i % PALETTE.length];
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    const points = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    const pts = points.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ');
    out.push(`<polyline fill="none" stroke="${colour}" stroke-width="2"${dash} points="${pts}"/>`);
    for (const [x, y] of points)
      out.push(
        `<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="3" fill="${s.dashed ? 'white' : colour}" stroke="${colour}"/>`,
      );
    const lx = m.left + pw + 14;
    const ly = m.top + 10 + 20 * i;
    out.push(`<line x1="${lx}" x2="${lx + 24}" y1="${ly}" y2="${ly}" stroke="${colour}" stroke-width="2"${dash}/>`);
    out.push(`<text x="${lx + 30}" y="${ly + 4}">${escapeXml(s.name)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
