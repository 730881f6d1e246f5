/**
 * Every exported function of the op, layer-helper, optimizer, training, data, model and report
 * namespaces, and every Tensor method, called with arguments of the wrong kind (null, undefined,
 * a number, a string, an empty object, arrays, NaN) in the first one to three positions: each
 * call must return or throw one of the library's typed errors (FlexconvError), never a bare
 * TypeError or RangeError from deep inside, which names nothing of the caller's. The probe that
 * found the gaps this test now guards (lib/check.ts: expectOptionsObject and friends).
 */
import * as lib from '../lib';
import { FlexconvError, Tensor } from '../lib';

const BAD: unknown[] = [null, undefined, 5, 'x', {}, [], [null], NaN];

// Namespaces of plain functions and classes, minus what changes process-wide state or starts
// an MPI job (distributed: only launchInfo is a pure function of its argument).
const NAMESPACES: Record<string, Record<string, unknown>> = {
  ops: lib.ops,
  nn: lib.nn,
  optim: lib.optim,
  train: lib.train,
  data: lib.data,
  models: lib.models,
  report: lib.report,
  distributed: { launchInfo: lib.distributed.launchInfo },
  // The top level, minus the setters of process-wide state (threads, instruction set, seed).
  top: {
    exportOnnx: lib.exportOnnx,
    saveSafetensors: lib.saveSafetensors,
    loadSafetensors: lib.loadSafetensors,
    readSafetensors: lib.readSafetensors,
    serializeSafetensors: lib.serializeSafetensors,
    parseSafetensors: lib.parseSafetensors,
    onnxModelLoad: (...a: unknown[]) => (lib.OnnxModel.load as (...b: unknown[]) => unknown)(...a),
    Generator: lib.Generator,
    tidy: lib.tidy,
    keep: lib.keep,
    noGrad: lib.noGrad,
    profile: lib.profile,
  },
};
// Not probed: they take no arguments that could be of the wrong kind, or they change global
// state by design (thread counts and instruction sets have their own typed-error tests).
const SKIP = new Set(['nn.Parameter', 'nn.Module', 'nn.init']);

// Model builders take undefined and {} as "the defaults" and build a whole network (an
// ImageNet ResNet per call): they are probed with the other values only.
const BAD_FOR_MODELS = BAD.filter(
  (v) => v !== undefined && !(typeof v === 'object' && v !== null && !Array.isArray(v)),
);

/** The failures of `call` on each wrong-kind value that are not typed errors (async ones too). */
async function untypedFailures(call: (args: unknown[]) => unknown, values = BAD): Promise<string[]> {
  const found = new Set<string>();
  const note = (e: unknown): void => {
    if (!(e instanceof FlexconvError)) found.add(`${String(e)}`.slice(0, 120));
  };
  for (const bad of values) {
    for (let n = 1; n <= 3; n++) {
      try {
        const r = call(Array(n).fill(bad));
        if (r instanceof Promise) await r.catch(note);
      } catch (e) {
        note(e);
      }
    }
  }
  return [...found];
}

describe('wrong-kind arguments are typed errors across the public API', () => {
  for (const [ns, members] of Object.entries(NAMESPACES)) {
    test(`${ns}.*`, async () => {
      const failures: string[] = [];
      for (const [name, f] of Object.entries(members)) {
        if (typeof f !== 'function' || SKIP.has(`${ns}.${name}`)) continue;
        const isClass = /^[A-Z]/.test(name);
        const call = (args: unknown[]): unknown =>
          isClass ? new (f as new (...a: unknown[]) => unknown)(...args) : (f as (...a: unknown[]) => unknown)(...args);
        const values = ns === 'models' ? BAD_FOR_MODELS : BAD;
        for (const msg of await untypedFailures(call, values)) failures.push(`${ns}.${name}: ${msg}`);
      }
      expect(failures).toEqual([]);
    });
  }

  test('Module methods', async () => {
    const failures: string[] = [];
    const proto = lib.nn.Module.prototype as unknown as Record<string, unknown>;
    for (const name of Object.getOwnPropertyNames(lib.nn.Module.prototype)) {
      const d = Object.getOwnPropertyDescriptor(lib.nn.Module.prototype, name);
      if (name === 'constructor' || !d || typeof d.value !== 'function') continue;
      const call = (args: unknown[]): unknown => {
        const m = new lib.nn.Sequential<lib.nn.Module>(new lib.nn.Conv2d(3, 4, 3), new lib.nn.BatchNorm2d(4));
        const r = (proto[name] as (...a: unknown[]) => unknown).apply(m, args);
        // Generators run only when iterated: walk them so their checks run too.
        return r !== null && typeof r === 'object' && Symbol.iterator in r ? [...(r as Iterable<unknown>)] : r;
      };
      for (const msg of await untypedFailures(call)) failures.push(`Module.${name}: ${msg}`);
    }
    expect(failures).toEqual([]);
  });

  // The methods of the library's other classes that users call. TypeScript's private and
  // protected methods are visible at run time: each class lists its own, left out by name.
  const OPTIMIZER_INTERNALS = ['checkOptions', 'update', 'stateTensor'];
  const INSTANCES: Record<string, { make: () => object; internal: string[] }> = {
    SGD: {
      make: () => new lib.optim.SGD(new lib.nn.Linear(2, 2).parameters(), { lr: 0.1 }),
      internal: OPTIMIZER_INTERNALS,
    },
    Adam: { make: () => new lib.optim.Adam(new lib.nn.Linear(2, 2).parameters()), internal: OPTIMIZER_INTERNALS },
    StepLR: {
      make: () =>
        new lib.optim.StepLR(new lib.optim.SGD(new lib.nn.Linear(2, 2).parameters(), { lr: 0.1 }), { stepSize: 2 }),
      internal: [],
    },
    DataLoader: {
      make: () => new lib.data.DataLoader(lib.data.syntheticShapes({ length: 4, seed: 1 }), { batchSize: 2 }),
      internal: ['makeBatch'],
    },
    ConfusionMatrix: { make: () => new lib.train.ConfusionMatrix(3), internal: [] },
    Generator: { make: () => new lib.Generator(1), internal: [] },
  };
  test.each(Object.keys(INSTANCES))('%s methods', async (cls) => {
    const failures: string[] = [];
    const names = new Set<string>();
    const { make, internal } = INSTANCES[cls];
    for (let p = Object.getPrototypeOf(make()); p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
      for (const n of Object.getOwnPropertyNames(p)) if (n !== 'constructor' && !internal.includes(n)) names.add(n);
    }
    for (const name of names) {
      const call = (args: unknown[]): unknown => {
        const o = make() as Record<string, unknown>;
        if (typeof o[name] !== 'function') return undefined;
        const r = (o[name] as (...a: unknown[]) => unknown)(...args);
        return r !== null && typeof r === 'object' && Symbol.iterator in r ? [...(r as Iterable<unknown>)] : r;
      };
      for (const msg of await untypedFailures(call)) failures.push(`${cls}.${name}: ${msg}`);
    }
    expect(failures).toEqual([]);
  });

  test('Tensor methods', async () => {
    const failures: string[] = [];
    const proto = Tensor.prototype as unknown as Record<string, unknown>;
    for (const name of Object.getOwnPropertyNames(Tensor.prototype)) {
      const d = Object.getOwnPropertyDescriptor(Tensor.prototype, name);
      if (name === 'constructor' || !d || typeof d.value !== 'function' || name === 'dispose') continue;
      const call = (args: unknown[]): unknown => {
        const t = Tensor.randn([2, 3]);
        return (proto[name] as (...a: unknown[]) => unknown).apply(t, args);
      };
      for (const msg of await untypedFailures(call)) failures.push(`Tensor.${name}: ${msg}`);
    }
    expect(failures).toEqual([]);
  });
});

describe('module forwards refuse wrong-kind inputs with typed errors', () => {
  const { nn, models } = lib;
  // One small instance of every layer kind users call forward on.
  const MODULES: Record<string, () => lib.nn.Module> = {
    Conv2d: () => new nn.Conv2d(3, 4, 3),
    ConvTranspose2d: () => new nn.ConvTranspose2d(3, 4, 3),
    Linear: () => new nn.Linear(3, 4),
    BatchNorm2d: () => new nn.BatchNorm2d(3),
    ReLU: () => new nn.ReLU(),
    MaxPool2d: () => new nn.MaxPool2d(2),
    AvgPool2d: () => new nn.AvgPool2d(2),
    AdaptiveAvgPool2d: () => new nn.AdaptiveAvgPool2d(1),
    Upsample: () => new nn.Upsample({ scaleFactor: 2 }),
    Dropout: () => new nn.Dropout(0.5),
    Flatten: () => new nn.Flatten(),
    Sequential: () => new nn.Sequential(new nn.ReLU()),
    DynamicConv2d: () => new nn.DynamicConv2d(3, 4, { kernelSize: 3 }),
    DeformConv2d: () => new nn.DeformConv2d(3, 4, { kernelSize: 3 }),
    ModulatedDeformConv2d: () => new nn.ModulatedDeformConv2d(3, 4, { kernelSize: 3 }),
    OctaveConv2d: () => new nn.OctaveConv2d(4, 4, { kernelSize: 3, alphaIn: 0.5, alphaOut: 0.5 }),
    SqueezeExcitation: () => new nn.SqueezeExcitation(4),
    FeaturePyramidNetwork: () => new nn.FeaturePyramidNetwork([4, 8], 4),
    BiFPN: () => new nn.BiFPN([4, 8], 4),
    WeightedFusion: () => new nn.WeightedFusion(2),
    LastLevelMaxPool: () => new nn.LastLevelMaxPool(),
    LastLevelP6P7: () => new nn.LastLevelP6P7(4, 4),
    DeformableBasicBlock: () => new nn.DeformableBasicBlock(4, 4),
    ResNet: () => models.resnet18({ numClasses: 2, width: 8, stem: 'cifar' }),
    UNet: () => models.unet({ baseChannels: 4, depth: 2, numClasses: 2 }),
    OctNet: () => new nn.OctNet({ widths: [8, 8, 8], numClasses: 2 }),
    DynamicNet: () => new nn.DynamicNet({ widths: [4, 4, 4, 4], numClasses: 2 }),
  };
  const inputs: unknown[] = [...BAD, Tensor.randn([3]), Tensor.randn([1, 2, 3, 4, 5])];

  test.each(Object.keys(MODULES))('%s', async (name) => {
    const m = MODULES[name]();
    const failures: string[] = [];
    for (const x of inputs) {
      for (const extra of [[], [null], [5]]) {
        try {
          const r = (m.forward as (...a: unknown[]) => unknown)(x, ...extra);
          if (r instanceof Promise) await r;
        } catch (e) {
          if (!(e instanceof FlexconvError)) failures.push(String(e).slice(0, 120));
        }
      }
    }
    expect(failures).toEqual([]);
  });
});
