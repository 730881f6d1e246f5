/**
 * The main job's parts that are not training: settings from the command line, the whole-job
 * clock, the per-configuration summary over seeds, and the PNG the report embeds.
 */
import { inflateSync } from 'node:zlib';
import { crc32, encodeGreyPng } from '../lib/report/png';
import type { RunResult } from '../scripts/experiments/run';
import { RunClock } from '../scripts/experiments/run_clock';
import { resolveSettings, SPEC } from '../scripts/experiments/settings';
import { markdownTable, summarise, summaryTable } from '../scripts/experiments/summary';
import { parseCli, UsageError } from '../scripts/run_config';

const settings = (...argv: string[]) => resolveSettings(parseCli(argv, SPEC));

describe('settings', () => {
  test('defaults, the --quick preset, and explicit options winning over it', () => {
    const d = settings();
    expect(d.experiments).toEqual(['classification', 'segmentation']);
    expect(d.convs).toEqual(['standard', 'deform', 'modulated']);
    expect([
      d.width,
      d.epochs,
      d.segEpochs,
      d.trainSize,
      d.testSize,
      d.segTrainSize,
      d.batchSize,
      d.segBatchSize,
    ]).toEqual([16, 4, 8, 2000, 500, 1500, 32, 16]);
    const q = settings('--quick');
    expect([q.width, q.epochs, q.segEpochs, q.trainSize]).toEqual([8, 2, 2, 256]);
    const q2 = settings('--quick', '--epochs', '3', '--train-size', '100');
    expect([q2.epochs, q2.segEpochs, q2.trainSize]).toEqual([3, 3, 100]);
    // Image files use all their samples unless told.
    expect(settings('--dataset', 'fashion-mnist').trainSize).toBeUndefined();
    expect(
      settings('--convs', 'dynamic,octave', '--models', 'resnet18,resnet34', '--seeds', '1,2,3', '--stem', 'imagenet'),
    ).toMatchObject({
      convs: ['dynamic', 'octave'],
      models: ['resnet18', 'resnet34'],
      seeds: [1, 2, 3],
      stem: 'imagenet',
    });
  });

  test('bad options are UsageErrors that name the option and what it accepts', () => {
    expect(() => settings('--convs', 'standard,deformm')).toThrow(
      /--convs: expected values among .*deform.* but received "deformm"/,
    );
    expect(() => settings('--convs', 'deform,deform')).toThrow(/--convs: received a value twice/);
    expect(() => settings('--experiments', 'detection')).toThrow(/--experiments/);
    expect(() => settings('--models', 'resnet50')).toThrow(/--models/);
    expect(() => settings('--stem', 'cifar,imagenet')).toThrow(/--stem/);
    expect(() => settings('--seeds', '1,x')).toThrow(/--seeds/);
    expect(() => settings('--epochs', '0')).toThrow(/--epochs: expected an integer >= 1 but received "0"/);
    expect(() => settings('--dataset', 'cifar10')).toThrow(/--data-dir/);
    expect(() => settings('--stages', '5')).toThrow(/--stages/);
    expect(() => settings('--bogus')).toThrow(UsageError);
  });
});

describe('RunClock', () => {
  test('estimates what is left from each experiment’s own epoch cost', () => {
    const clock = new RunClock();
    clock.plan('classification', 4);
    clock.plan('segmentation', 6);
    expect(clock.etaSeconds()).toBeNull();
    clock.epochDone('classification', 10);
    clock.epochDone('classification', 14);
    // 2 classification epochs at 12 s, 6 segmentation epochs at the job-wide mean of 12 s.
    expect(clock.etaSeconds()).toBeCloseTo(2 * 12 + 6 * 12, 9);
    clock.epochDone('segmentation', 3);
    expect(clock.etaSeconds()).toBeCloseTo(2 * 12 + 5 * 3, 9);
    expect(clock.total).toBe(10);
    expect(clock.line()).toMatch(/^job: 3\/10 epochs, \d+s elapsed, about 39s left$/);
  });
});

function run(conv: string, seed: number, seconds: number[], accuracies: number[]): RunResult {
  return {
    experiment: 'classification',
    model: 'resnet18',
    conv,
    label: conv,
    seed,
    parameters: conv === 'standard' ? 1000 : 1200,
    history: seconds.map((s, i) => ({
      epoch: i + 1,
      trainLoss: 1,
      trainAccuracy: 0.5,
      seconds: s,
      imagesPerSecond: 1,
      lr: 0.1,
    })),
    tests: accuracies.map((a, i) => ({ name: `t${i}`, loss: 1, accuracy: a })),
    testSeconds: 0,
  };
}

describe('summary', () => {
  test('median epoch time per run, mean over seeds, ratio to standard, accuracy spread over seeds', () => {
    const configs = summarise([
      run('standard', 1, [10, 2, 4], [0.5, 0.4]),
      run('standard', 2, [6, 6, 6], [0.7, 0.6]),
      run('deform', 1, [9, 9, 1], [0.8, 0.5]),
      run('deform', 2, [7, 7, 7], [0.6, 0.5]),
    ]);
    expect(configs.map((c) => c.label)).toEqual(['standard', 'deform']);
    expect(configs[0].epochSeconds).toBe(5); // medians 4 and 6
    expect(configs[1].epochSeconds).toBe(8); // medians 9 and 7
    expect(configs[1].timeRatio).toBeCloseTo(1.6, 12);
    expect(configs[1].tests[0].accuracy).toEqual({ mean: expect.closeTo(0.7, 12), min: 0.6, max: 0.8 });
    const { header, rows } = summaryTable(configs, 'classification');
    expect(header).toEqual([
      'conv',
      'parameters',
      'epoch s',
      'vs standard',
      'train acc',
      'test acc: t0',
      'test acc: t1',
    ]);
    expect(rows[1]).toEqual(['deform', '1,200', '8.0', '1.60x', '50.0%', '70.0% (60.0-80.0)', '50.0% (50.0-50.0)']);
    const md = markdownTable(header, rows).split('\n');
    expect(md).toHaveLength(4);
    expect(md[1]).toMatch(/^\|-+\|-+:\|/);
  });
});

describe('PNG encoder', () => {
  test('CRC-32 matches the standard check value; the image inflates back to its pixels', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
    const pixels = Uint8Array.from({ length: 5 * 3 }, (_, i) => (i * 37) % 256);
    const png = encodeGreyPng(pixels, 5, 3);
    expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    // Walk the chunks: every CRC checks, IHDR says 5x3 grey, IDAT holds filter byte + row.
    let at = 8;
    const chunks: Record<string, Buffer> = {};
    while (at < png.length) {
      const len = png.readUInt32BE(at);
      const type = png.toString('latin1', at + 4, at + 8);
      expect(png.readUInt32BE(at + 8 + len)).toBe(crc32(png.subarray(at + 4, at + 8 + len)));
      chunks[type] = png.subarray(at + 8, at + 8 + len);
      at += 12 + len;
    }
    expect(Object.keys(chunks)).toEqual(['IHDR', 'IDAT', 'IEND']);
    expect([chunks.IHDR.readUInt32BE(0), chunks.IHDR.readUInt32BE(4), chunks.IHDR[8], chunks.IHDR[9]]).toEqual([
      5, 3, 8, 0,
    ]);
    const raw = inflateSync(chunks.IDAT);
    for (let y = 0; y < 3; y++) {
      expect(raw[y * 6]).toBe(0);
      expect([...raw.subarray(y * 6 + 1, y * 6 + 6)]).toEqual([...pixels.subarray(y * 5, y * 5 + 5)]);
    }
    expect(() => encodeGreyPng(pixels, 4, 3)).toThrow(/expected 4 x 3 = 12 pixels but received 15/);
  });
});

describe('the job refuses configurations that cannot run before training any', () => {
  test('octave convolutions on the 7x7-stem maps of 32x32 glyphs: a UsageError naming the configuration', async () => {
    const { runJob } = await import('../scripts/experiments/job');
    const s = settings(
      '--quick',
      '--convs',
      'standard,octave',
      '--stem',
      'imagenet',
      '--experiments',
      'classification',
      '--out',
      '/nonexistent/never-written',
    );
    const lines: string[] = [];
    await expect(runJob(s, 'test', (l) => lines.push(l))).rejects.toThrow(
      /the configuration classification \/ resnet18 \/ octave \(stages 2,3,4\) cannot run on this data: .*OctaveConv2d/,
    );
    expect(lines.filter((l) => l.startsWith('epoch'))).toEqual([]); // nothing trained
  });
});
