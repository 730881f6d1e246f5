/**
 * A real learning test: a small CNN (conv-bn-relu-pool x2 + linear) learns to tell the
 * orientation of noisy stripes (horizontal, vertical, diagonal, anti-diagonal) and must
 * classify held-out images it never saw with high accuracy. Everything the library offers for
 * training takes part: layers, autograd through every op, cross-entropy, AdamW, a scheduler,
 * train/eval modes (batch statistics vs running statistics), tidy() per step.
 */
import { Generator, manualSeed, noGrad, Tensor, tidy } from '../lib';
import { Module } from '../lib/nn';
import * as ops from '../lib/ops';
import { AdamW, CosineAnnealingLR } from '../lib/optim';
import { CLASSES, SIZE, smallCnn, stripes } from './stripes';

function accuracy(model: Module, x: Tensor, labels: number[]): number {
  return tidy(() =>
    noGrad(() => {
      const logits = model.forward(x).toArray();
      let correct = 0;
      labels.forEach((label, n) => {
        const row = logits.slice(n * CLASSES, (n + 1) * CLASSES);
        if (row.indexOf(Math.max(...row)) === label) correct++;
      });
      return correct / labels.length;
    }),
  );
}

/** The batch of rows `indices` of x and y. */
function batchOf(x: Tensor, labels: number[], indices: Int32Array): { xb: Tensor; yb: Tensor } {
  const per = SIZE * SIZE;
  const xb = Tensor.empty([indices.length, 1, SIZE, SIZE]);
  indices.forEach((i, k) => xb.data.set(x.data.subarray(i * per, (i + 1) * per), k * per));
  return { xb, yb: Tensor.from(Array.from(indices, (i) => labels[i])) };
}

test('a small CNN learns stripe orientation and generalises to held-out images (>= 90%)', () => {
  manualSeed(1234);
  const g = new Generator(42);
  const train = stripes(1024, g);
  const test = stripes(400, g);
  const model = smallCnn();
  const steps = 300;
  const batch = 32;
  const opt = new AdamW(model.parameters(), { lr: 0.01, weightDecay: 1e-4 });
  const sched = new CosineAnnealingLR(opt, { tMax: steps });

  const before = accuracy(model.eval(), test.x, test.labels);
  model.train();
  const losses: number[] = [];
  let order = g.permutation(train.labels.length);
  let cursor = 0;
  for (let step = 0; step < steps; step++) {
    if (cursor + batch > order.length) {
      order = g.permutation(train.labels.length);
      cursor = 0;
    }
    const indices = order.subarray(cursor, cursor + batch);
    cursor += batch;
    const loss = tidy(() => {
      const { xb, yb } = batchOf(train.x, train.labels, indices);
      const l = ops.crossEntropy(model.forward(xb), yb);
      l.backward();
      opt.step();
      opt.zeroGrad();
      return l.item();
    });
    sched.step();
    losses.push(loss);
  }
  const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
  // Chance-level loss is ln 4 = 1.386; training must have driven it well down.
  expect(mean(losses.slice(0, 10))).toBeGreaterThan(1.0);
  expect(mean(losses.slice(-20))).toBeLessThan(0.3);

  const trainAcc = accuracy(model.eval(), train.x, train.labels);
  const testAcc = accuracy(model, test.x, test.labels);
  expect(before).toBeLessThan(0.5);
  expect(trainAcc).toBeGreaterThanOrEqual(0.9);
  expect(testAcc).toBeGreaterThanOrEqual(0.9);

  // The trained weights survive a state-dict round trip into a fresh model (eval mode uses
  // the running statistics, which the state dict carries).
  const copy = smallCnn();
  copy.loadStateDict(model.stateDict());
  expect(accuracy(copy.eval(), test.x, test.labels)).toBe(testAcc);
});
