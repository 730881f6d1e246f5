import { ArgumentError, getNumThreads, memoryStats, setNumThreads, ShapeError, Tensor } from '../lib';
import { Parameter } from '../lib/nn';
import { Adam, AdamW, CosineAnnealingLR, LinearWarmup, SequentialLR, SGD, StepLR } from '../lib/optim';
import * as ops from '../lib/ops';
import { expectClose, describeCuda } from './helpers';
import { adamReference, RefAdam, RefSgd, sgdReference } from './reference/optim';

const p0 = [0.5, -1.25, 2, 0.001, -0.3, 3.5, -2.75];
// Gradients that change sign and magnitude, so momentum, AMSGrad's maximum and the bias
// correction all matter.
const grads = [
  [0.1, -0.2, 0.3, 1.5, -0.05, 0.7, 0],
  [-0.4, 0.1, 0.25, -2.0, 0.3, 0.1, 0.2],
  [0.05, 0.5, -0.6, 0.01, 0.02, -0.9, -0.1],
  [1.2, -0.3, 0.0, 0.4, -0.7, 0.2, 0.3],
  [-0.2, 0.2, 0.1, -0.1, 0.05, 0.5, -0.4],
];

type Make = (params: Tensor[]) => SGD | Adam;

function run(make: Make): number[][] {
  const p = new Parameter(Tensor.from(p0));
  const opt = make([p]);
  const out: number[][] = [];
  for (const g of grads) {
    p.grad = Tensor.from(g);
    opt.step();
    out.push(p.toArray());
  }
  return out;
}

function expectTrajectory(actual: number[][], expected: number[][]): void {
  actual.forEach((row, step) => expectClose(row, expected[step], 2e-6, 2e-5));
}

describe('SGD matches torch.optim.SGD', () => {
  const cases: RefSgd[] = [
    { lr: 0.1 },
    { lr: 0.05, weightDecay: 0.1 },
    { lr: 0.1, momentum: 0.9 },
    { lr: 0.1, momentum: 0.9, dampening: 0.3, weightDecay: 0.01 },
    { lr: 0.1, momentum: 0.8, nesterov: true, weightDecay: 1e-3 },
    { lr: 0.1, momentum: 0.5, maximize: true },
  ];
  test.each(cases)('%j', (o) => {
    expectTrajectory(
      run((ps) => new SGD(ps, o)),
      sgdReference(p0, grads, o),
    );
  });
});

describe('Adam and AdamW match torch.optim', () => {
  const cases: RefAdam[] = [
    { lr: 0.01 },
    { lr: 0.1, betas: [0.8, 0.9], eps: 1e-6 },
    { lr: 0.01, weightDecay: 0.1 },
    { lr: 0.05, amsgrad: true },
    { lr: 0.05, amsgrad: true, weightDecay: 0.02, maximize: true },
  ];
  test.each(cases)('Adam %j', (o) => {
    expectTrajectory(
      run((ps) => new Adam(ps, o)),
      adamReference(p0, grads, o),
    );
  });
  test.each(cases)('AdamW %j', (o) => {
    const expected = adamReference(p0, grads, { ...o, decoupled: true, weightDecay: o.weightDecay ?? 0.01 });
    expectTrajectory(
      run((ps) => new AdamW(ps, o)),
      expected,
    );
  });

  test('AdamW defaults to weightDecay 0.01 and Adam to 0', () => {
    const p = new Parameter(Tensor.from([1]));
    expect(new AdamW([p]).paramGroups[0].weightDecay).toBe(0.01);
    expect(new Adam([p]).paramGroups[0].weightDecay).toBe(0);
  });
});

describe('fused kernels on large tensors (threaded ranges)', () => {
  const n = 100_003;
  const start = Array.from({ length: n }, (_, i) => Math.sin(i * 0.37) * 2);
  const gs = [0, 1, 2].map((k) => Array.from({ length: n }, (_, i) => Math.cos(i * 0.11 + k) * (1 + (i % 7))));

  function trajectory(make: Make): number[][] {
    const p = new Parameter(Tensor.from(start));
    const opt = make([p]);
    return gs.map((g) => {
      p.grad = Tensor.from(g);
      opt.step();
      return p.toArray();
    });
  }

  test.each([1, 2])('match the reference at %i thread(s)', (threads) => {
    const saved = getNumThreads();
    setNumThreads(threads);
    try {
      const sgd: RefSgd = { lr: 0.01, momentum: 0.9, nesterov: true, weightDecay: 1e-4 };
      trajectory((ps) => new SGD(ps, sgd)).forEach((row, i) =>
        expectClose(row, sgdReference(start, gs, sgd)[i], 1e-5, 1e-5),
      );
      const adam: RefAdam = { lr: 0.01, amsgrad: true, weightDecay: 0.05, decoupled: true };
      const ref = adamReference(start, gs, adam);
      trajectory((ps) => new AdamW(ps, adam)).forEach((row, i) => expectClose(row, ref[i], 1e-5, 1e-5));
    } finally {
      setNumThreads(saved);
    }
  });
});

describe('Optimizer mechanics', () => {
  test('a gradient of the wrong size is a ShapeError from the kernel, not a crash', () => {
    const p = new Parameter(Tensor.from([1, 2, 3]));
    p.grad = Tensor.from([1, 2]);
    expect(() => new Adam([p]).step()).toThrow(ShapeError);
    expect(() => new SGD([p], { lr: 0.1 }).step()).toThrow(/sgdUpdate: expected grad to have 3 elements/);
  });

  test('parameter groups carry their own hyper-parameters; params without grad are skipped', () => {
    const a = new Parameter(Tensor.from([1, 2]));
    const b = new Parameter(Tensor.from([3, 4]));
    const c = new Parameter(Tensor.from([5]));
    const opt = new SGD([{ params: [a] }, { params: [b, c], lr: 0.5 }], { lr: 0.1 });
    a.grad = Tensor.from([1, 1]);
    b.grad = Tensor.from([1, -1]);
    opt.step();
    expectClose(a.toArray(), [0.9, 1.9], 1e-6);
    expectClose(b.toArray(), [2.5, 4.5], 1e-6);
    expect(c.toArray()).toEqual([5]);
    opt.zeroGrad();
    expect([a.grad, b.grad, c.grad]).toEqual([null, null, null]);
  });

  test('addParamGroup adds parameters with the defaults filled in', () => {
    const a = new Parameter(Tensor.from([1]));
    const b = new Parameter(Tensor.from([2]));
    const opt = new SGD([a], { lr: 0.1, momentum: 0.5 });
    opt.addParamGroup({ params: [b], lr: 0.01 });
    expect(opt.paramGroups[1]).toMatchObject({ lr: 0.01, momentum: 0.5, weightDecay: 0 });
    b.grad = Tensor.from([1]);
    opt.step();
    expectClose(b.toArray(), [2 - 0.01], 1e-7);
    expect(() => opt.addParamGroup({ params: [a] })).toThrow(/more than one parameter group/);
    expect(() => opt.addParamGroup({ params: [] })).toThrow(/at least one parameter/);
    expect(() => opt.addParamGroup({ params: [new Parameter(Tensor.from([3]))], lr: -1 })).toThrow(
      /expected lr to be a non-negative number/,
    );
  });

  test('steps allocate nothing after the first one', () => {
    const ps = [new Parameter(Tensor.randn([64, 32])), new Parameter(Tensor.randn([32]))];
    for (const p of ps) p.grad = Tensor.randn(p.shape);
    for (const opt of [new SGD(ps, { lr: 0.01, momentum: 0.9 }), new AdamW(ps, { amsgrad: true })]) {
      opt.step();
      const before = memoryStats();
      for (let i = 0; i < 20; i++) opt.step();
      const after = memoryStats();
      expect(after.allocated).toBe(before.allocated);
      expect(after.tensorBytes).toBe(before.tensorBytes);
    }
  });

  test('stateDict / loadStateDict resume the exact trajectory', () => {
    const o: RefAdam = { lr: 0.05, amsgrad: true, weightDecay: 0.01 };
    const p = new Parameter(Tensor.from(p0));
    const opt = new AdamW([p], o);
    for (const g of grads.slice(0, 2)) {
      p.grad = Tensor.from(g);
      opt.step();
    }
    const saved = opt.stateDict();
    expect(Object.keys(saved.state[0]).sort()).toEqual(['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq', 'step']);
    expect(saved.state[0].step).toBe(2);
    expect(saved.paramGroups[0]).toMatchObject({ lr: 0.05, params: [0], amsgrad: true });

    const q = new Parameter(Tensor.from(p.toArray()));
    const resumed = new AdamW([q], { lr: 1 }); // lr comes back from the state dict
    resumed.loadStateDict(saved);
    for (const g of grads.slice(2)) {
      p.grad = Tensor.from(g);
      q.grad = Tensor.from(g);
      opt.step();
      resumed.step();
    }
    expect(q.toArray()).toEqual(p.toArray());
    expect(() => resumed.loadStateDict({ state: {}, paramGroups: [] })).toThrow(
      /expected 1 parameter groups but received 0/,
    );
    expect(() => resumed.loadStateDict({ ...saved, state: { 5: { step: 1 } } })).toThrow(/parameter 5/);
  });

  test('minimises a least-squares problem through autograd', () => {
    // y = x @ w* ; learn w from x and y.
    const x = Tensor.randn([32, 4]);
    const wTrue = Tensor.from([1, -2, 0.5, 3], [4, 1]);
    const y = ops.matmul(x, wTrue);
    const w = new Parameter(Tensor.zeros([4, 1]));
    const opt = new Adam([w], { lr: 0.1 });
    for (let i = 0; i < 300; i++) {
      const pred = ops.matmul(x, w);
      const diff = pred.toArray().map((v, j) => v - y.data[j]);
      // d(mean sq)/dpred = 2 * diff / n, fed as the backward seed.
      pred.backward(
        Tensor.from(
          diff.map((d) => (2 * d) / diff.length),
          pred.shape,
        ),
      );
      opt.step();
      opt.zeroGrad();
    }
    expectClose(w.toArray(), [1, -2, 0.5, 3], 2e-2);
  });

  test('bad input: no parameters, non-parameters, bad hyper-parameters', () => {
    const p = new Parameter(Tensor.from([1]));
    expect(() => new SGD([])).toThrow(ArgumentError);
    expect(() => new SGD([])).toThrow('SGD: expected at least one parameter but received an empty parameter list');
    expect(() => new Adam([{ params: [] }])).toThrow(/Adam: expected at least one parameter/);
    expect(() => new AdamW(undefined as unknown as Tensor[])).toThrow(/AdamW: expected params to be an iterable/);
    expect(() => new SGD([Tensor.from([1])])).toThrow(/expected params\[0\] to be a Parameter/);
    expect(() => new SGD([p], { lr: -1 })).toThrow(
      'SGD: expected lr to be a non-negative number but received -1 of type number',
    );
    expect(() => new SGD([p], { nesterov: true })).toThrow(/nesterov momentum requires momentum > 0/);
    expect(() => new Adam([p], { betas: [0.9, 1] })).toThrow(/expected betas\[1\] to be a number in \[0, 1\)/);
    expect(() => new SGD([p, p])).toThrow(/more than one parameter group/);
  });
});

describe('LR schedulers match their closed forms', () => {
  const makeOpt = () =>
    new SGD([{ params: [new Parameter(Tensor.from([1]))] }, { params: [new Parameter(Tensor.from([1]))], lr: 0.5 }], {
      lr: 0.1,
    });

  function lrs(opt: SGD, sched: { step(): void }, steps: number): number[][] {
    const out = [opt.paramGroups.map((g) => g.lr)];
    for (let i = 0; i < steps; i++) {
      sched.step();
      out.push(opt.paramGroups.map((g) => g.lr));
    }
    return out;
  }

  function expectRows(actual: number[][], expected: number[][]): void {
    actual.forEach((r, i) => expectClose(r, expected[i], 1e-12, 1e-12));
  }

  test('StepLR', () => {
    const opt = makeOpt();
    const s = new StepLR(opt, { stepSize: 3, gamma: 0.5 });
    expectRows(
      lrs(opt, s, 7),
      [0, 1, 2, 3, 4, 5, 6, 7].map((e) => [0.1, 0.5].map((b) => b * 0.5 ** Math.floor(e / 3))),
    );
    expectClose(s.getLr(), [0.1 * 0.25, 0.5 * 0.25], 1e-12);
  });

  test('CosineAnnealingLR', () => {
    const opt = makeOpt();
    const s = new CosineAnnealingLR(opt, { tMax: 10, etaMin: 0.001 });
    const expected = Array.from({ length: 11 }, (_, e) =>
      [0.1, 0.5].map((b) => 0.001 + ((b - 0.001) * (1 + Math.cos((Math.PI * e) / 10))) / 2),
    );
    expectRows(lrs(opt, s, 10), expected);
    expectClose(
      opt.paramGroups.map((g) => g.lr),
      [0.001, 0.001],
      1e-12,
    );
  });

  test('LinearWarmup', () => {
    const opt = makeOpt();
    const s = new LinearWarmup(opt, { warmupSteps: 4, startFactor: 0.2 });
    const f = [0.2, 0.4, 0.6, 0.8, 1, 1];
    expectRows(
      lrs(opt, s, 5),
      f.map((x) => [0.1 * x, 0.5 * x]),
    );
  });

  test('SequentialLR: warm-up then cosine', () => {
    const opt = makeOpt();
    const warm = new LinearWarmup(opt, { warmupSteps: 3, startFactor: 0.25 });
    const cos = new CosineAnnealingLR(opt, { tMax: 4 });
    const s = new SequentialLR(opt, [warm, cos], [3]);
    const factor = [0.25, 0.5, 0.75, ...[0, 1, 2, 3, 4].map((e) => (1 + Math.cos((Math.PI * e) / 4)) / 2)];
    expectRows(
      lrs(opt, s, 7),
      factor.map((x) => [0.1 * x, 0.5 * x]),
    );
    expect(() => new SequentialLR(opt, [warm, cos], [])).toThrow(/expected 1 milestones/);
    expect(() => new SequentialLR(opt, [warm, new StepLR(makeOpt(), { stepSize: 1 })], [2])).toThrow(/same optimizer/);
  });

  test('state round trip and bad input', () => {
    const opt = makeOpt();
    const s = new StepLR(opt, { stepSize: 2 });
    s.step();
    s.step();
    const saved = s.stateDict();
    const opt2 = makeOpt();
    const s2 = new StepLR(opt2, { stepSize: 2 });
    s2.loadStateDict(saved);
    expect(opt2.paramGroups.map((g) => g.lr)).toEqual(opt.paramGroups.map((g) => g.lr));
    expect(() => new StepLR(opt, { stepSize: 0 })).toThrow(
      'StepLR: expected stepSize to be a positive integer but received 0 of type number',
    );
    expect(() => new CosineAnnealingLR(opt, { tMax: 2.5 })).toThrow(/tMax/);
    expect(() => new LinearWarmup(opt, { warmupSteps: 3, startFactor: 0 })).toThrow(/startFactor/);
    expect(() => new StepLR({} as SGD, { stepSize: 1 })).toThrow(/expected optimizer to be an Optimizer/);
  });
});

const gpu = describeCuda('optim.test');
gpu('optimizers on CUDA', () => {
  test.each([
    ['SGD nesterov', (ps: Tensor[]) => new SGD(ps, { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.01 })],
    ['AdamW amsgrad', (ps: Tensor[]) => new AdamW(ps, { lr: 0.05, amsgrad: true })],
  ] as [string, Make][])('%s matches the CPU trajectory', (_name, make) => {
    const cpu = new Parameter(Tensor.from(p0));
    const dev = new Parameter(Tensor.from(p0, undefined, { device: 'cuda' }));
    const optCpu = make([cpu]);
    const optDev = make([dev]);
    for (const g of grads) {
      cpu.grad = Tensor.from(g);
      dev.grad = Tensor.from(g, undefined, { device: 'cuda' });
      optCpu.step();
      optDev.step();
    }
    expectClose(dev.toArray(), cpu.toArray(), 1e-6, 1e-5);
  });
});
