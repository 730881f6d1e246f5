/**
 * Renders HTML in headless Chromium (Debian's `chromium`) and reports layout defects of its
 * SVG figures: text drawn outside its SVG's box (clipped labels, legends), text boxes that
 * overlap each other (unreadable labels), and a page wider than the window. The check runs
 * in the page itself (a script appended to a copy of the file); `--dump-dom` hands its
 * findings back as an attribute of <body>.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface LayoutProblem {
  kind: 'clipped' | 'overlap' | 'page-overflow';
  /** The text(s) concerned and the figure's title. */
  what: string;
}

export interface LayoutReport {
  svgs: number;
  texts: number;
  problems: LayoutProblem[];
}

/** The Chromium binary, or null when none is installed. */
export function findChromium(): string | null {
  const candidates = [process.env.CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];
  for (const c of candidates) if (c && fs.existsSync(c)) return c;
  return null;
}

const CHECK = `
<script>
(() => {
  const problems = [];
  let texts = 0;
  const inside = (r, box) => r.left >= box.left - 0.5 && r.right <= box.right + 0.5 && r.top >= box.top - 0.5 && r.bottom <= box.bottom + 0.5;
  const svgs = [...document.querySelectorAll('svg')];
  for (const svg of svgs) {
    const box = svg.getBoundingClientRect();
    const title = (svg.querySelector('text') || {}).textContent || '(untitled figure)';
    const items = [...svg.querySelectorAll('text')].map((t) => ({ text: t.textContent, r: t.getBoundingClientRect() }));
    texts += items.length;
    for (const it of items) if (!inside(it.r, box)) problems.push({ kind: 'clipped', what: JSON.stringify(it.text) + ' in ' + JSON.stringify(title) });
    for (let i = 0; i < items.length; i++)
      for (let j = i + 1; j < items.length; j++) {
        const a = items[i].r, b = items[j].r;
        const w = Math.min(a.right, b.right) - Math.max(a.left, b.left);
        const h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
        if (w > 1 && h > 1) problems.push({ kind: 'overlap', what: JSON.stringify(items[i].text) + ' and ' + JSON.stringify(items[j].text) + ' in ' + JSON.stringify(title) });
      }
  }
  if (document.documentElement.scrollWidth > window.innerWidth + 1) problems.push({ kind: 'page-overflow', what: 'page ' + document.documentElement.scrollWidth + ' px wide in a ' + window.innerWidth + ' px window' });
  document.body.setAttribute('data-layout', JSON.stringify({ svgs: svgs.length, texts, problems }));
})();
</script>`;

/** Lays out `html` (a page, or bare SVG) in a `width` px window and returns what the check found. */
export function checkLayout(chromium: string, html: string, width = 1280): LayoutReport {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flexconv-layout-'));
  try {
    const page = html.includes('</body>')
      ? html.replace('</body>', `${CHECK}\n</body>`)
      : `<!DOCTYPE html><html><body>${html}${CHECK}</body></html>`;
    const file = path.join(dir, 'page.html');
    fs.writeFileSync(file, page);
    const dom = execFileSync(
      chromium,
      [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--hide-scrollbars',
        `--user-data-dir=${path.join(dir, 'profile')}`,
        `--window-size=${width},900`,
        '--dump-dom',
        `file://${file}`,
      ],
      { encoding: 'utf8', timeout: 90_000, stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 << 20 },
    );
    const m = /data-layout="([^"]*)"/.exec(dom);
    if (!m) throw new Error('checkLayout: the page did not report its layout (did the script run?)');
    const json = m[1]
      .replace(/&quot;/g, '"')
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
      .replace(/&amp;/g, '&');
    return JSON.parse(json) as LayoutReport;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
