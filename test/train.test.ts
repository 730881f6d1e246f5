import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { channelStats, DataLoader, syntheticShapes } from '../lib/data';
import { IoError } from '../lib/errors';
import { saveSafetensors } from '../lib/io/safetensors';
import { resnet18, unet, type ConvKind } from '../lib/models';
import type { Module } from '../lib/nn';
import * as optim from '../lib/optim';
import { manualSeed } from '../lib/random';
import { formatEta } from '../lib/train/progress';
import { Tensor } from '../lib/tensor';
import {
  ConfusionMatrix,
  evaluate,
  fit,
  loadCheckpoint,
  loadModel,
  saveCheckpoint,
  saveModel,
  svgLineChart,
} from '../lib/train';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'flexconv-train-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

// Small, quick data: 16x16 glyphs, rotations up to 30 degrees, 1 channel.
const train = syntheticShapes({ length: 960, seed: 11, rotation: 30, size: 16 });
const testSet = syntheticShapes({ length: 300, seed: 12, rotation: 30, size: 16 });
const stats = channelStats(train);
const loaders = (seed = 1): { trainLoader: DataLoader; testLoader: DataLoader } => ({
  trainLoader: new DataLoader(train, { batchSize: 32, shuffle: true, seed, dropLast: true, normalize: stats }),
  testLoader: new DataLoader(testSet, { batchSize: 100, normalize: stats }),
});
const tinyNet = (conv: ConvKind, width = 8): Module => {
  manualSeed(5);
  return resnet18({
    numClasses: 10,
    inChannels: 1,
    stem: 'cifar',
    width,
    conv: conv === 'standard' ? 'standard' : { kind: conv, stages: [3, 4] },
  });
};

/** Keys, shapes and the bytes of every value of the state dict (compared with equals(), not element-wise). */
// The learning runs take ~5-15 s on an idle 2-core machine; allow for a heavily shared one.
const LEARNING_TIMEOUT = 400_000;

function stateBytes(m: Module): { keys: string; bytes: Buffer } {
  const sd = Object.entries(m.stateDict());
  return {
    keys: sd.map(([k, t]) => `${k}:${t.shape.join('x')}`).join(','),
    bytes: Buffer.concat(sd.map(([, t]) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength))),
  };
}
function expectSameState(a: Module, b: Module): void {
  const x = stateBytes(a);
  const y = stateBytes(b);
  expect(x.keys).toBe(y.keys);
  expect(x.bytes.equals(y.bytes)).toBe(true);
}

describe('metrics', () => {
  test('confusion matrix, accuracy and mean IoU against hand-computed values', () => {
    const cm = new ConfusionMatrix(3);
    // Pixels of one 1x3x2x2 image: predictions (argmax over channels) [0, 1, 2, 2], targets [0, 1, 1, 2].
    const logits = Tensor.from([5, 0, 0, 0, /* c1 */ 0, 5, 0, 0, /* c2 */ 0, 0, 5, 5], [1, 3, 2, 2]);
    cm.update(logits, Tensor.from([0, 1, 1, 2], [1, 2, 2]));
    expect(cm.accuracy()).toBe(0.75);
    // IoU: class 0: 1/1; class 1: TP 1, FN 1 -> 1/2; class 2: TP 1, FP 1 -> 1/2.
    expect(cm.iou()).toEqual([1, 0.5, 0.5]);
    expect(cm.meanIoU()).toBeCloseTo(2 / 3, 12);
    const cls = new ConfusionMatrix(4);
    cls.update(Tensor.from([1, 0, 0, 0, 0, 0, 0, 9], [2, 4]), Tensor.from([0, 2]));
    expect(cls.accuracy()).toBe(0.5);
    expect(cls.iou().map((v) => (Number.isNaN(v) ? 'nan' : v))).toEqual([1, 'nan', 0, 0]);
    expect(() => cls.update(Tensor.from([1, 2, 3], [1, 3]), Tensor.from([0]))).toThrow(/expected logits \[N, 4\]/);
  });

  test('the SVG chart is well-formed and holds every series', () => {
    const svg = svgLineChart(
      [
        {
          name: 'standard',
          points: [
            [1, 50],
            [2, 70],
          ],
        },
        {
          name: 'deform <v1>',
          points: [
            [1, 55],
            [2, 80],
          ],
        },
      ],
      { title: 'acc', xLabel: 'epoch', yLabel: '%' },
    );
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.trim().endsWith('</svg>')).toBe(true);
    expect((svg.match(/<polyline/g) ?? []).length).toBe(2);
    expect(svg).toContain('deform &lt;v1&gt;');
  });
});

describe('fit and evaluate', () => {
  test(
    'a small standard ResNet learns the glyphs well above chance; fit yields to the event loop',
    async () => {
      const net = tinyNet('standard');
      const { trainLoader, testLoader } = loaders();
      const optimizer = new optim.Adam(net.parameters(), { lr: 3e-3 });
      const scheduler = new optim.CosineAnnealingLR(optimizer, { tMax: 4 });
      let ticks = 0;
      const timer = setInterval(() => ticks++, 0);
      const lines: string[] = [];
      const { history } = await fit(net, optimizer, trainLoader, {
        epochs: 4,
        valLoader: testLoader,
        scheduler,
        progress: 'lines',
        log: (l) => lines.push(l),
      });
      clearInterval(timer);
      expect(ticks).toBeGreaterThan(10);
      expect(history.length).toBe(4);
      expect(history[3].trainLoss).toBeLessThan(history[0].trainLoss);
      // 10 classes: chance is 10%; this run reaches about 55% (and 75% on the training data).
      expect(history[3].valAccuracy).toBeGreaterThan(0.4);
      expect(lines.some((l) => /^epoch 4\/4: loss \d\.\d{4} acc \d+\.\d% \| val loss/.test(l))).toBe(true);
      const ev = await evaluate(net, testLoader);
      expect(ev.samples).toBe(300);
      expect(ev.accuracy).toBeCloseTo(history[3].valAccuracy as number, 10);
      expect(net.training).toBe(true);
    },
    LEARNING_TIMEOUT,
  );

  test("progress 'bar' still sends every epoch summary through log; lines mode says when it validates", async () => {
    const { trainLoader, testLoader } = loaders();
    for (const progress of ['bar', 'lines'] as const) {
      const net = tinyNet('standard', 4);
      const lines: string[] = [];
      await fit(net, new optim.SGD(net.parameters(), { lr: 0.01 }), trainLoader, {
        epochs: 2,
        valLoader: testLoader,
        progress,
        log: (l) => lines.push(l),
        maxStepsPerEpoch: 2,
      });
      const summaries = lines.filter((l) => /^epoch \d\/2: loss [\d.]+ acc [\d.]+% \| val loss/.test(l));
      expect({ progress, summaries: summaries.length }).toEqual({ progress, summaries: 2 });
      if (progress === 'lines') expect(lines).toContain('epoch 1/2 validating');
    }
    expect(formatEta(42)).toBe('42s');
    expect(formatEta(185)).toBe('3m05s');
    expect(formatEta(3720)).toBe('1h02m');
  });

  test(
    'a small deformable ResNet (stages 3-4) learns well above chance too',
    async () => {
      const net = tinyNet('deform');
      const { trainLoader, testLoader } = loaders();
      const optimizer = new optim.Adam(net.parameters(), { lr: 3e-3 });
      const scheduler = new optim.CosineAnnealingLR(optimizer, { tMax: 4 });
      const { history } = await fit(net, optimizer, trainLoader, {
        epochs: 4,
        valLoader: testLoader,
        scheduler,
        progress: 'none',
      });
      expect(history[3].trainLoss).toBeLessThan(history[0].trainLoss);
      expect(history[3].valAccuracy).toBeGreaterThan(0.4);
    },
    LEARNING_TIMEOUT,
  );

  test('segmentation: a small U-Net trains on glyph masks and reports mean IoU', async () => {
    const seg = syntheticShapes({ task: 'segmentation', length: 96, seed: 21, size: 16 });
    const segTest = syntheticShapes({ task: 'segmentation', length: 32, seed: 22, size: 16 });
    const s = channelStats(seg);
    manualSeed(3);
    const net = unet({ inChannels: 1, numClasses: seg.numClasses, baseChannels: 4, depth: 2 });
    const optimizer = new optim.Adam(net.parameters(), { lr: 1e-2 });
    const { history } = await fit(net, optimizer, new DataLoader(seg, { batchSize: 16, shuffle: true, normalize: s }), {
      epochs: 3,
      valLoader: new DataLoader(segTest, { batchSize: 32, normalize: s }),
      progress: 'none',
    });
    expect(history[2].trainLoss).toBeLessThan(history[0].trainLoss);
    for (const h of history) {
      expect(h.trainMeanIoU).toBeGreaterThanOrEqual(0);
      expect(h.valMeanIoU).toBeGreaterThanOrEqual(0);
      expect(h.valMeanIoU).toBeLessThanOrEqual(1);
    }
    // Three short epochs: the network is still learning that most pixels are background.
    expect(history[2].trainAccuracy).toBeGreaterThan(history[0].trainAccuracy + 0.1);
    expect(history[2].valLoss).toBeLessThan(history[0].valLoss as number);
  });

  test('checkpoints round-trip exactly and resuming continues the same run', async () => {
    const dir = path.join(tmp, 'resume');
    const make = (): { net: Module; optimizer: optim.Adam; scheduler: optim.CosineAnnealingLR } => {
      const net = tinyNet('standard', 4);
      const optimizer = new optim.Adam(net.parameters(), { lr: 2e-3 });
      return { net, optimizer, scheduler: new optim.CosineAnnealingLR(optimizer, { tMax: 3 }) };
    };
    const small = new DataLoader(train, { batchSize: 32, shuffle: true, seed: 3, dropLast: true, normalize: stats });
    const opts = { progress: 'none' as const, maxStepsPerEpoch: 4 };

    // Uninterrupted: 3 epochs.
    const a = make();
    await fit(a.net, a.optimizer, small, { ...opts, epochs: 3, scheduler: a.scheduler });

    // Interrupted after 2 epochs, then resumed in fresh objects to 3.
    const b = make();
    await fit(b.net, b.optimizer, small, { ...opts, epochs: 2, scheduler: b.scheduler, checkpointDir: dir });
    const file = path.join(dir, 'last.safetensors');
    expect(fs.existsSync(file)).toBe(true);
    expect(JSON.parse(fs.readFileSync(`${file}.json`, 'utf-8')).epoch).toBe(2);

    // Exact round trip of model and optimizer state.
    const c = make();
    const restored = loadCheckpoint(file, { model: c.net, optimizer: c.optimizer, scheduler: c.scheduler });
    expect(restored.epoch).toBe(2);
    expectSameState(c.net, b.net);
    const so = (o: optim.Adam): string =>
      Object.entries(o.stateDict().state)
        .flatMap(([i, e]) =>
          Object.entries(e).map(
            ([k, v]) =>
              `${i}.${k}=${v instanceof Tensor ? Buffer.from(v.data.buffer, v.data.byteOffset, v.data.byteLength).toString('base64') : v}`,
          ),
        )
        .join(';');
    expect(so(c.optimizer)).toEqual(so(b.optimizer));
    expect(c.scheduler.lastEpoch).toBe(2);
    expect(c.optimizer.paramGroups[0].lr).toBe(b.optimizer.paramGroups[0].lr);

    const resumed = await fit(
      c.net,
      c.optimizer,
      new DataLoader(train, { batchSize: 32, shuffle: true, seed: 3, dropLast: true, normalize: stats }),
      {
        ...opts,
        epochs: 3,
        scheduler: c.scheduler,
        checkpointDir: dir,
        resume: true,
      },
    );
    expect(resumed.startEpoch).toBe(2);
    expect(resumed.history.map((h) => h.epoch)).toEqual([1, 2, 3]);
    // Deterministic kernels + per-epoch seeded data: the resumed run ends bit-identical to the uninterrupted one.
    expectSameState(c.net, a.net);
  });

  test('checkpoint errors name the file', async () => {
    const net = tinyNet('standard');
    const plain = path.join(tmp, 'plain.safetensors');
    saveModel(net, plain);
    expect(() => loadCheckpoint(plain, { model: net })).toThrow(IoError);
    expect(() => loadCheckpoint(plain, { model: net })).toThrow(/plain\.safetensors: not a flexconv checkpoint/);
    const ckpt = path.join(tmp, 'ck.safetensors');
    saveCheckpoint(ckpt, { model: net, epoch: 1 });
    const other = resnet18({ numClasses: 3, inChannels: 1, stem: 'cifar', width: 8 });
    expect(() => loadCheckpoint(ckpt, { model: other })).toThrow(/ck\.safetensors: .*fc\.weight/);
    expect(() => loadCheckpoint(ckpt, { model: net, optimizer: new optim.Adam(net.parameters()) })).toThrow(
      /holds no optimizer state/,
    );
    await expect(
      fit(net, new optim.Adam(net.parameters()), loaders().trainLoader, { epochs: 1, resume: true }),
    ).rejects.toThrow(/resume: true needs options.checkpointDir/);
  });

  test('a checkpoint with a bad epoch is refused; temporaries of killed saves are cleaned up', () => {
    const net = tinyNet('standard', 4);
    const ckpt = path.join(tmp, 'epochs.safetensors');
    for (const epoch of [2.5, -5.5, 1e9, '3']) {
      const meta = JSON.stringify({
        format: 'flexconv-checkpoint-1',
        epoch,
        optimizer: null,
        scheduler: null,
        extra: {},
      });
      saveSafetensors(ckpt, net.stateDict(), { format: 'pt', flexconv: meta });
      // The file holds the model's keys unprefixed here, but the epoch is checked first.
      expect(() => loadCheckpoint(ckpt, { model: net })).toThrow(
        /expected the checkpoint's epoch to be an integer in \[0, 1000000\]/,
      );
    }
    // A save killed mid-write leaves .<name>.<pid>.<rand>.tmp; the next save (or load) removes
    // those of dead processes and keeps a live process's.
    const good = path.join(tmp, 'good.safetensors');
    const dead = path.join(tmp, '.good.safetensors.999999999.abc123.tmp');
    const live = path.join(tmp, `.good.safetensors.${process.pid}.xyz.tmp`);
    fs.writeFileSync(dead, 'partial');
    fs.writeFileSync(live, 'in progress');
    saveCheckpoint(good, { model: net, epoch: 1 });
    expect(fs.existsSync(dead)).toBe(false);
    expect(fs.existsSync(live)).toBe(true);
    fs.writeFileSync(dead, 'partial');
    expect(loadCheckpoint(good, { model: net }).epoch).toBe(1);
    expect(fs.existsSync(dead)).toBe(false);
    fs.rmSync(live);
  });

  test('loads a PyTorch-style state dict (torchvision names, I64 num_batches_tracked)', () => {
    const src = tinyNet('standard');
    const dict: Record<string, Tensor> = { ...src.stateDict() };
    // What PyTorch's save_file(model.state_dict()) writes: every BatchNorm has a 0-d int64 counter.
    const file = path.join(tmp, 'torch.safetensors');
    const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
    const chunks: Buffer[] = [];
    let offset = 0;
    for (const [k, t] of Object.entries(dict)) {
      const bytes = Buffer.from(Float32Array.from(t.data).buffer);
      header[k] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + bytes.length] };
      chunks.push(bytes);
      offset += bytes.length;
      if (k.endsWith('running_var')) {
        const counter = Buffer.alloc(8);
        counter.writeBigInt64LE(7n);
        const key = k.replace('running_var', 'num_batches_tracked');
        if (!(key in dict)) {
          header[key] = { dtype: 'I64', shape: [], data_offsets: [offset, offset + 8] };
          chunks.push(counter);
          offset += 8;
        }
      }
    }
    const json = Buffer.from(JSON.stringify(header));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    fs.writeFileSync(file, Buffer.concat([len, json, ...chunks]));
    const dst = resnet18({ numClasses: 10, inChannels: 1, stem: 'cifar', width: 8 });
    loadModel(dst, file);
    expectSameState(dst, src);
    // And our own plain model file round-trips.
    const ours = path.join(tmp, 'ours.safetensors');
    saveModel(src, ours);
    const dst2 = resnet18({ numClasses: 10, inChannels: 1, stem: 'cifar', width: 8 });
    loadModel(dst2, ours);
    expectSameState(dst2, src);
    saveSafetensors(ours, { 'fc.weight': Tensor.zeros([10, 64]) });
    expect(() => loadModel(dst2, ours)).toThrow(/ours\.safetensors: .*missing keys/);
    // One argument order for both, and a one-line error (no model dump) when swapped.
    for (const call of [
      () => (saveModel as (...a: unknown[]) => void)(ours, src),
      () => (loadModel as (...a: unknown[]) => void)(ours, dst2),
    ]) {
      let message = '';
      try {
        call();
      } catch (e) {
        message = (e as Error).message;
      }
      expect(message).toMatch(/^(save|load)Model: expected \(model, file\) but received \(file, model\)/);
      expect(message.split('\n')).toHaveLength(1);
    }
  });
});
