/**
 * Self-contained HTML reports: one file, inline CSS and inline SVG figures, no scripts and
 * nothing fetched, so it opens the same from a CI artifact, an e-mail or a laptop offline.
 */
import { ArgumentError, describe } from '../errors';
import { escapeXml } from './svg_text';

export interface ReportSection {
  heading: string;
  /** Paragraphs of plain text (escaped), shown under the heading. */
  text?: readonly string[];
  /** Trusted HTML (tables, figures) made by this module's helpers or the SVG writers. */
  html?: readonly string[];
}

export interface ReportPage {
  title: string;
  /** One line under the title: what ran, where, when. */
  subtitle?: string;
  sections: readonly ReportSection[];
}

const STYLE = `
body { font-family: sans-serif; margin: 24px auto; max-width: 1180px; padding: 0 16px; color: #222; }
h1 { font-size: 24px; margin-bottom: 4px; }
h2 { font-size: 19px; margin-top: 32px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
p.sub { color: #555; margin-top: 0; }
table { border-collapse: collapse; margin: 12px 0; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 4px 10px; }
th { background: #f4f4f4; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.figures { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
figure { margin: 0; }
figcaption { font-size: 12px; color: #555; max-width: 420px; }
`;

/** An HTML table; cells that look like numbers are right-aligned. */
export function htmlTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  if (
    !Array.isArray(header as unknown) ||
    !Array.isArray(rows as unknown) ||
    !rows.every((r) => Array.isArray(r as unknown))
  ) {
    throw new ArgumentError(
      `htmlTable: expected header to be an array of strings and rows an array of such arrays but received ${describe(header)} and ${describe(rows)}`,
    );
  }
  const numeric = (s: string): boolean => /^[-+]?[\d,.]+(%|x| s)?$/.test(s.trim());
  const th = header.map((h) => `<th>${escapeXml(h)}</th>`).join('');
  const body = rows
    .map((r) => `<tr>${r.map((c) => `<td${numeric(c) ? ' class="num"' : ''}>${escapeXml(c)}</td>`).join('')}</tr>`)
    .join('\n');
  return `<table>\n<thead><tr>${th}</tr></thead>\n<tbody>\n${body}\n</tbody>\n</table>`;
}

/** Figures (SVG strings) side by side, wrapping, each with an optional caption. */
export function htmlFigures(figures: readonly { svg: string; caption?: string }[]): string {
  if (
    !Array.isArray(figures as unknown) ||
    !figures.every((f) => f !== null && typeof f === 'object' && typeof f.svg === 'string')
  ) {
    throw new ArgumentError(
      `htmlFigures: expected figures to be an array of { svg, caption? } but received ${describe(figures)}`,
    );
  }
  const items = figures.map(
    (f) =>
      `<figure>\n${f.svg.trim()}${f.caption ? `\n<figcaption>${escapeXml(f.caption)}</figcaption>` : ''}\n</figure>`,
  );
  return `<div class="figures">\n${items.join('\n')}\n</div>`;
}

export function htmlReport(page: ReportPage): string {
  if (page === null || typeof page !== 'object' || typeof page.title !== 'string') {
    throw new ArgumentError(
      `htmlReport: expected page to be a ReportPage { title, ... } but received ${describe(page)}`,
    );
  }
  const parts = [
    '<!DOCTYPE html>',
    '<html lang="en">',
    `<head>\n<meta charset="utf-8">\n<title>${escapeXml(page.title)}</title>\n<style>${STYLE}</style>\n</head>`,
    '<body>',
    `<h1>${escapeXml(page.title)}</h1>`,
  ];
  if (page.subtitle) parts.push(`<p class="sub">${escapeXml(page.subtitle)}</p>`);
  for (const s of page.sections) {
    parts.push(`<h2>${escapeXml(s.heading)}</h2>`);
    for (const t of s.text ?? []) parts.push(`<p>${escapeXml(t)}</p>`);
    for (const h of s.html ?? []) parts.push(h);
  }
  parts.push('</body>', '</html>');
  return `${parts.join('\n')}\n`;
}
