/**
 * A dependency-free SVG chart of horizontal grouped bars: one group per category (a conv
 * kind, a transform), one bar per series inside it, each bar labelled with its value and an
 * optional note ("1.31x"). Horizontal bars keep long category names readable; every margin
 * is sized from the labels it holds, so nothing is clipped.
 */
import { expectOptionsObject } from '../check';
import { ArgumentError, describe } from '../errors';
import { escapeXml, niceTicks, PALETTE, textWidth, tickLabel } from './svg_text';

export interface BarGroup {
  label: string;
  /** One value per series (null: no bar). */
  values: readonly (number | null)[];
  /** Text after a bar's value, per series (e.g. the ratio to a baseline). */
  notes?: readonly (string | undefined)[];
}

export interface BarChartOptions {
  title?: string;
  /** Names of the series (the legend); one name needs no legend. */
  series: readonly string[];
  /** Axis title under the bars. */
  valueLabel?: string;
  /** How a bar's value is written (default: 3 significant digits). */
  format?: (v: number) => string;
  /** Value axis range (default [0, largest value]). */
  range?: [number, number];
  /** Width of the bar area in pixels (default 380). */
  plotWidth?: number;
}

const FONT = 12;
const TITLE_FONT = 15;
const BAR = 16;
const GAP = 10;

export function svgBarChart(groups: readonly BarGroup[], options: BarChartOptions): string {
  if (!Array.isArray(groups as unknown)) {
    throw new ArgumentError(
      `svgBarChart: expected groups to be an array of bar groups but received ${describe(groups)}`,
    );
  }
  expectOptionsObject('svgBarChart', options);
  if (!Array.isArray(options.series as unknown)) {
    throw new ArgumentError(
      `svgBarChart: expected options.series to be an array of series names but received ${describe(options.series)}`,
    );
  }
  const pw = options.plotWidth ?? 380;
  const format = options.format ?? ((v: number) => String(Number(v.toPrecision(3))));
  const nSeries = Math.max(1, options.series.length);
  const values = groups.flatMap((g) => g.values.filter((v): v is number => v !== null && Number.isFinite(v)));
  const [lo, hi] = options.range ?? [Math.min(0, ...values), Math.max(0, ...values) || 1];
  const ticks = niceTicks(lo, hi, 5).filter((t) => t >= lo && t <= hi);
  const valueText = (g: BarGroup, s: number): string => {
    const v = g.values[s];
    if (v === null || v === undefined || !Number.isFinite(v)) return '';
    const note = g.notes?.[s];
    return note ? `${format(v)} (${note})` : format(v);
  };
  const labelWidth = Math.max(0, ...groups.map((g) => textWidth(g.label, FONT)));
  const valueWidth = Math.max(0, ...groups.flatMap((g) => g.values.map((_, s) => textWidth(valueText(g, s), FONT))));
  const tickWidth = Math.max(0, ...ticks.map((t) => textWidth(tickLabel(t), FONT)));
  const left = 10 + labelWidth + 8;
  const right = Math.max(valueWidth + 12, tickWidth / 2 + 6);
  const W0 = left + pw + right;

  // Legend: items in rows that fit the width.
  const legend: { name: string; x: number; row: number }[] = [];
  if (options.series.length > 1) {
    let x = 10;
    let row = 0;
    for (const name of options.series) {
      const w = 22 + textWidth(name, FONT) + 16;
      if (x + w > W0 - 10 && x > 10) {
        row++;
        x = 10;
      }
      legend.push({ name, x, row });
      x += w;
    }
  }
  const legendRows = legend.length ? legend[legend.length - 1].row + 1 : 0;
  const titleWidth = options.title ? textWidth(options.title, TITLE_FONT) + 20 : 0;
  const W = Math.max(W0, titleWidth);
  const top = (options.title ? 36 : 10) + legendRows * 20 + 6;
  const groupHeight = nSeries * BAR + GAP;
  const ph = groups.length * groupHeight;
  const H = top + ph + 24 + (options.valueLabel ? 20 : 0) + 6;
  const px = (v: number): number => left + ((v - lo) / (hi - lo || 1)) * pw;

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="${FONT}">`,
  );
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  if (options.title)
    out.push(
      `<text x="${W / 2}" y="24" text-anchor="middle" font-size="${TITLE_FONT}">${escapeXml(options.title)}</text>`,
    );
  for (const item of legend) {
    const y = (options.title ? 36 : 10) + item.row * 20 + 8;
    const colour = PALETTE[options.series.indexOf(item.name) % PALETTE.length];
    out.push(`<rect x="${item.x}" y="${y - 6}" width="16" height="12" fill="${colour}"/>`);
    out.push(`<text x="${item.x + 22}" y="${y + 4}">${escapeXml(item.name)}</text>`);
  }
  for (const t of ticks) {
    out.push(`<line x1="${px(t)}" x2="${px(t)}" y1="${top}" y2="${top + ph}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${px(t)}" y="${top + ph + 16}" text-anchor="middle">${tickLabel(t)}</text>`);
  }
  groups.forEach((g, gi) => {
    const y0 = top + gi * groupHeight + GAP / 2;
    out.push(
      `<text x="${left - 8}" y="${y0 + (nSeries * BAR) / 2 + 4}" text-anchor="end">${escapeXml(g.label)}</text>`,
    );
    g.values.forEach((v, s) => {
      if (v === null || !Number.isFinite(v)) return;
      const y = y0 + s * BAR;
      const x0 = px(Math.max(lo, Math.min(0, hi)));
      const x1 = px(Math.max(lo, Math.min(v, hi)));
      const colour = PALETTE[s % PALETTE.length];
      out.push(
        `<rect x="${Math.min(x0, x1).toFixed(1)}" y="${y + 1}" width="${Math.abs(x1 - x0).toFixed(1)}" height="${BAR - 2}" fill="${colour}"><title>${escapeXml(`${g.label}, ${options.series[s] ?? ''}: ${valueText(g, s)}`)}</title></rect>`,
      );
      out.push(
        `<text x="${(Math.max(x0, x1) + 4).toFixed(1)}" y="${y + BAR / 2 + 4}">${escapeXml(valueText(g, s))}</text>`,
      );
    });
  });
  out.push(`<line x1="${left}" x2="${left}" y1="${top}" y2="${top + ph}" stroke="black"/>`);
  out.push(`<line x1="${left}" x2="${left + pw}" y1="${top + ph}" y2="${top + ph}" stroke="black"/>`);
  if (options.valueLabel)
    out.push(
      `<text x="${left + pw / 2}" y="${top + ph + 36}" text-anchor="middle">${escapeXml(options.valueLabel)}</text>`,
    );
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
