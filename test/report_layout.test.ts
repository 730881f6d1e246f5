/**
 * The report and the SVG writers as a browser draws them: headless Chromium lays out the
 * main job's report (a real --quick run) and charts built to stress the layout (long names,
 * many series, large and negative values), and no label, tick or legend may be clipped or
 * overlap another. Skips visibly where Chromium is not installed (CI installs it).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { svgBarChart, svgLineChart } from '../lib/report';
import { runJob } from '../scripts/experiments/job';
import { resolveSettings } from '../scripts/experiments/settings';
import { checkLayout, findChromium } from './chromium';

const chromium = findChromium();
if (!chromium)
  console.log('report_layout.test.ts: chromium not installed (apt-get install chromium), layout tests skipped');
const describeBrowser = chromium ? describe : describe.skip;

describeBrowser('layout in headless Chromium', () => {
  test('the check itself finds a clipped legend and overlapping labels', () => {
    const clipped = '<svg width="100" height="40"><text x="50" y="20">a legend far too long for its box</text></svg>';
    const overlapping =
      '<svg width="300" height="40"><text x="10" y="20">first label</text><text x="20" y="22">second label</text></svg>';
    const report = checkLayout(chromium!, clipped + overlapping);
    expect(report.svgs).toBe(2);
    expect(report.problems.map((p) => p.kind).sort()).toEqual(['clipped', 'overlap']);
  });

  test("the main job's report (a --quick run): every figure's text inside its box, none overlapping", async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'flexconv-report-'));
    try {
      const settings = resolveSettings({
        quick: true,
        experiments: 'classification,segmentation',
        convs: 'standard,deform,modulated',
        models: 'resnet18',
        stem: 'cifar',
        stages: '2,3,4',
        dataset: 'synthetic',
        'batch-size': '32',
        'seg-batch-size': '16',
        lr: '0.002',
        'offset-lr-mult': '0.1',
        seeds: '1,2',
        out,
      });
      const { files } = await runJob(
        { ...settings, epochs: 1, segEpochs: 1, trainSize: 64, testSize: 32, segTrainSize: 32, segTestSize: 16 },
        'test',
        () => {},
      );
      const html = fs.readFileSync(files.html, 'utf8');
      const report = checkLayout(chromium!, html);
      expect(report.problems).toEqual([]);
      // Curves, loss, test bars, time and parameter bars per experiment (+ pixel accuracy), 6 offset pictures.
      expect(report.svgs).toBeGreaterThanOrEqual(5 + 6 + 6);
      expect(report.texts).toBeGreaterThan(100);
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });

  test('line charts with long names, many series and wide values keep every label in view', () => {
    const names = [
      'standard',
      'modulated deformable convolution (stages 2,3,4) with a long name',
      'octave',
      'dynamic (levels 1,2,3,4)',
      'WWWWWWWWWWWWWWWW',
      'x',
    ];
    const series = names.map((name, i) => ({
      name,
      points: Array.from({ length: 30 }, (_, e) => [e + 1, 123456.789 * (i + 1) - e * 1000] as [number, number]),
      dashed: i % 2 === 1,
    }));
    const svg = svgLineChart(series, {
      title: 'A title that is quite a bit longer than usual for a chart',
      xLabel: 'epoch',
      yLabel: 'images per second',
    });
    const small = svgLineChart(
      [
        {
          name: 'tiny values',
          points: [
            [0, 0.00012],
            [1, 0.00031],
          ],
        },
      ],
      { yLabel: 'loss' },
    );
    const report = checkLayout(chromium!, svg + small);
    expect(report.problems).toEqual([]);
  });

  test('bar charts with long labels, wrapped legends, notes and negative values keep every label in view', () => {
    const series = [
      'standard',
      'deform (stages 2,3,4)',
      'modulated (stages 2,3,4)',
      'dynamic (stages 2,3,4)',
      'octave (stages 2,3,4)',
    ];
    const groups = ['clean', 'rotated 30°', 'a transform with a very long descriptive name'].map((label, g) => ({
      label,
      values: series.map((_, s) => (g === 2 && s === 1 ? null : 100 - 7 * s - 20 * g)),
      notes: series.map((_, s) => `${(1 + s / 3).toFixed(2)}x`),
    }));
    const a = svgBarChart(groups, {
      title: 'accuracy',
      series,
      valueLabel: 'accuracy (%)',
      format: (v) => `${v.toFixed(1)}%`,
    });
    const b = svgBarChart(
      [
        { label: 'gain', values: [-12.5] },
        { label: 'loss', values: [30] },
      ],
      { series: ['change'], format: (v) => `${v} points` },
    );
    const c = svgBarChart([{ label: 'ResNet-34', values: [21_284_042] }], {
      series: ['parameters'],
      format: (v) => v.toLocaleString('en-US'),
    });
    const report = checkLayout(chromium!, a + b + c);
    expect(report.problems).toEqual([]);
  });
});
