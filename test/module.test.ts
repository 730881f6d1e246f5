import { ArgumentError, AutogradError, cuda, DeviceError, ShapeError, Tensor, tidy } from '../lib';
import { describeCuda, expectClose } from './helpers';
import { Module, ModuleList, Parameter, Sequential } from '../lib/nn';
import * as ops from '../lib/ops';

// Minimal layers built only from Parameters, buffers and matmul, so these tests exercise the
// Module machinery alone.
class FakeLinear extends Module {
  weight: Parameter;
  bias: Parameter | null;
  constructor(inF: number, outF: number, bias = true) {
    super();
    this.weight = new Parameter(Tensor.randn([inF, outF]));
    this.bias = bias ? new Parameter(Tensor.zeros([outF])) : null;
  }
  forward(x: Tensor): Tensor {
    return ops.matmul(x, this.weight);
  }
}

class FakeNorm extends Module {
  weight = new Parameter(Tensor.ones([3]));
  bias = new Parameter(Tensor.zeros([3]));
  constructor() {
    super();
    this.registerBuffer('running_mean', Tensor.zeros([3]));
    this.registerBuffer('running_var', Tensor.ones([3]));
    this.registerBuffer('num_batches_tracked', Tensor.zeros([]));
  }
  forward(x: Tensor): Tensor {
    return x;
  }
}

class Block extends Module {
  conv = new FakeLinear(3, 3);
  bn = new FakeNorm();
  forward(x: Tensor): Tensor {
    return this.bn.forward(this.conv.forward(x));
  }
}

class Net extends Module {
  stem = new Block();
  layers = new ModuleList<Block>([new Block(), new Block()]);
  head = new FakeLinear(3, 2, false);
  scale = new Parameter(Tensor.ones([1]));
  forward(x: Tensor): Tensor {
    let y = this.stem.forward(x);
    for (const b of this.layers) y = b.forward(y);
    return this.head.forward(y);
  }
}

// What PyTorch's named_parameters() / state_dict() give for the same structure (a root
// module's own parameters come before its children's).
const blockParams = (p: string) => [`${p}.conv.weight`, `${p}.conv.bias`, `${p}.bn.weight`, `${p}.bn.bias`];
const expectedParamNames = [
  'scale',
  ...blockParams('stem'),
  ...blockParams('layers.0'),
  ...blockParams('layers.1'),
  'head.weight',
];
const blockState = (p: string) => [
  ...blockParams(p),
  `${p}.bn.running_mean`,
  `${p}.bn.running_var`,
  `${p}.bn.num_batches_tracked`,
];
const expectedStateKeys = [
  'scale',
  ...blockState('stem'),
  ...blockState('layers.0'),
  ...blockState('layers.1'),
  'head.weight',
];

describe('Module: discovery and names', () => {
  test('namedParameters and stateDict keys match PyTorch for a nested model', () => {
    const net = new Net();
    expect(Array.from(net.namedParameters(), ([n]) => n)).toEqual(expectedParamNames);
    expect(Object.keys(net.stateDict())).toEqual(expectedStateKeys);
    expect(Array.from(net.namedBuffers(), ([n]) => n)).toEqual(
      ['stem', 'layers.0', 'layers.1'].flatMap((p) => [
        `${p}.bn.running_mean`,
        `${p}.bn.running_var`,
        `${p}.bn.num_batches_tracked`,
      ]),
    );
    expect(net.parameters().every((p) => p instanceof Parameter)).toBe(true);
    expect(net.numParameters()).toBe(1 + 3 * (9 + 3 + 3 + 3) + 6);
  });

  test('namedModules is pre-order with dotted names; children lists direct children', () => {
    const net = new Net();
    expect(Array.from(net.namedModules(), ([n]) => n)).toEqual([
      '',
      'stem',
      'stem.conv',
      'stem.bn',
      'layers',
      'layers.0',
      'layers.0.conv',
      'layers.0.bn',
      'layers.1',
      'layers.1.conv',
      'layers.1.bn',
      'head',
    ]);
    expect(Array.from(net.namedChildren(), ([n]) => n)).toEqual(['stem', 'layers', 'head']);
    expect(Array.from(net.children())[1]).toBe(net.layers);
  });

  test('a shared module: parameters() lists it once, stateDict() under every name (as PyTorch); arrays are walked', () => {
    class Tied extends Module {
      a = new FakeLinear(2, 2, false);
      blocks: Module[] = [new FakeLinear(2, 2, false), new FakeLinear(2, 2, false)];
      b: FakeLinear;
      constructor() {
        super();
        this.b = this.a; // tied weights
      }
      forward(x: Tensor): Tensor {
        return x;
      }
    }
    const m = new Tied();
    expect(Array.from(m.namedParameters(), ([n]) => n)).toEqual(['a.weight', 'blocks.0.weight', 'blocks.1.weight']);
    m.blocks = [null as unknown as Module, new FakeLinear(2, 2, false)]; // a hole keeps its index
    expect(Object.keys(m.stateDict())).toEqual(['a.weight', 'blocks.1.weight', 'b.weight']);
    m.blocks = [new FakeLinear(2, 2, false), new FakeLinear(2, 2, false)];
    expect(Object.keys(m.stateDict())).toEqual(['a.weight', 'blocks.0.weight', 'blocks.1.weight', 'b.weight']);
    expect(m.stateDict()['b.weight']).toBe(m.a.weight);
    expect(m.numParameters()).toBe(12);
  });

  test('an array of Parameters is a ParameterList: keys <attr>.<index>', () => {
    class Mixture extends Module {
      experts = [new Parameter(Tensor.ones([2])), new Parameter(Tensor.zeros([2]))];
      gate = new FakeLinear(2, 2, false);
      forward(x: Tensor): Tensor {
        return x;
      }
    }
    const m = new Mixture();
    expect(Object.keys(m.stateDict())).toEqual(['experts.0', 'experts.1', 'gate.weight']);
    const other = new Mixture();
    other.experts[1].data.set([5, 6]);
    m.loadStateDict(other.stateDict());
    expect(m.experts[1].toArray()).toEqual([5, 6]);
    expect(m.numParameters()).toBe(8);
  });

  test('non-persistent buffers are not in the state dict; buffer() reads them back', () => {
    class WithBuffers extends Module {
      constructor() {
        super();
        this.registerBuffer('kept', Tensor.ones([2]));
        this.registerBuffer('scratch', Tensor.zeros([2]), { persistent: false });
      }
      forward(x: Tensor): Tensor {
        return x;
      }
    }
    const m = new WithBuffers();
    expect(Object.keys(m.stateDict())).toEqual(['kept']);
    expect(Array.from(m.namedBuffers(), ([n]) => n)).toEqual(['kept', 'scratch']);
    expect(m.buffer('kept')?.toArray()).toEqual([1, 1]);
    expect(() => m.buffer('nope')).toThrow(ArgumentError);
    expect(() => m.registerBuffer('a.b', Tensor.ones([1]))).toThrow(/without '\.'/);
  });

  test('parameters of a model built inside tidy() survive the scope', () => {
    const net = tidy(() => {
      const n = new Net();
      return n.parameters().length > 0 ? n : null;
    }) as Net;
    for (const p of net.parameters()) expect(p.isDisposed).toBe(false);
    for (const [, b] of net.namedBuffers()) expect(b.isDisposed).toBe(false);
    expect(net.stem.conv.weight.toArray().length).toBe(9);
  });
});

describe('Module: state dict round trip and strict loading', () => {
  test('values copy in place into another model', () => {
    const a = new Net();
    const b = new Net();
    const bWeight = b.stem.conv.weight;
    (a.stateDict()['layers.1.bn.running_mean'] as Tensor).data.set([1, 2, 3]);
    const snapshot = Object.fromEntries(Object.entries(a.stateDict()).map(([k, t]) => [k, t.clone()]));
    const result = b.loadStateDict(snapshot);
    expect(result).toEqual({ missingKeys: [], unexpectedKeys: [] });
    for (const [k, t] of Object.entries(b.stateDict())) expect(t.toArray()).toEqual(a.stateDict()[k].toArray());
    expect(b.stem.conv.weight).toBe(bWeight); // same Parameter object: optimizers stay valid
    expect(b.layers.get(1).bn.buffer('running_mean')?.toArray()).toEqual([1, 2, 3]);
    // A Map works too.
    const c = new Net();
    c.loadStateDict(new Map(Object.entries(snapshot)));
    expect(c.head.weight.toArray()).toEqual(a.head.weight.toArray());
  });

  test('missing and unexpected keys are named; strict: false reports them', () => {
    const a = new Net();
    const dict = { ...a.stateDict() };
    delete dict['head.weight'];
    delete dict['stem.bn.running_var'];
    dict['extra.weight'] = Tensor.ones([1]);
    const b = new Net();
    const before = b.stem.conv.weight.toArray();
    expect(() => b.loadStateDict(dict)).toThrow(ArgumentError);
    expect(() => b.loadStateDict(dict)).toThrow(
      'missing keys: stem.bn.running_var, head.weight; unexpected keys: extra.weight',
    );
    expect(b.stem.conv.weight.toArray()).toEqual(before); // nothing copied on error
    const r = b.loadStateDict(dict, { strict: false });
    expect(r.missingKeys).toEqual(['stem.bn.running_var', 'head.weight']);
    expect(r.unexpectedKeys).toEqual(['extra.weight']);
    expect(b.stem.conv.weight.toArray()).toEqual(a.stem.conv.weight.toArray());
  });

  test('a shape mismatch throws a ShapeError naming the key, even when not strict', () => {
    const b = new Net();
    const dict = { ...b.stateDict(), 'stem.conv.weight': Tensor.zeros([3, 4]) };
    expect(() => b.loadStateDict(dict, { strict: false })).toThrow(ShapeError);
    expect(() => b.loadStateDict(dict)).toThrow(
      "loadStateDict: 1 shape mismatch: 'stem.conv.weight' expected [3, 3] but received [3, 4]",
    );
    // Every mismatch is reported, not only the first; nothing is copied.
    const before = b.stateDict()['stem.conv.weight'].toArray();
    const two = { ...dict, 'head.weight': Tensor.zeros([1, 1]) };
    expect(() => b.loadStateDict(two)).toThrow(
      /2 shape mismatches: 'stem\.conv\.weight' expected \[3, 3\] but received \[3, 4\]; 'head\.weight' expected \[\d+, \d+\] but received \[1, 1\]/,
    );
    expect(b.stateDict()['stem.conv.weight'].toArray()).toEqual(before);
    expect(() => b.loadStateDict({ ...b.stateDict(), scale: 3 as unknown as Tensor })).toThrow(
      /expected 'scale' to be a Tensor/,
    );
    expect(() => b.loadStateDict(null as unknown as Record<string, Tensor>)).toThrow(ArgumentError);
  });

  test('a one-element vector loads into a 0-d buffer (num_batches_tracked)', () => {
    const b = new Net();
    b.loadStateDict({ ...b.stateDict(), 'stem.bn.num_batches_tracked': Tensor.from([7]) });
    expect(b.stem.bn.buffer('num_batches_tracked')?.item()).toBe(7);
  });
});

describe('Module: modes, gradients, apply, devices', () => {
  test('train() / eval() propagate to every descendant', () => {
    const net = new Net();
    expect(Array.from(net.modules()).every((m) => m.training)).toBe(true);
    expect(net.eval()).toBe(net);
    expect(Array.from(net.modules()).every((m) => !m.training)).toBe(true);
    net.layers.train();
    expect(net.training).toBe(false);
    expect(net.layers.get(0).bn.training).toBe(true);
    net.train();
    expect(Array.from(net.modules()).every((m) => m.training)).toBe(true);
  });

  test('zeroGrad drops the gradients that backward accumulated', () => {
    const net = new Net();
    const x = Tensor.randn([4, 3]);
    const y = net.forward(x);
    y.backward(Tensor.ones(y.shape));
    expect(net.head.weight.grad?.shape).toEqual([3, 2]);
    expect(net.stem.conv.weight.grad?.shape).toEqual([3, 3]);
    const grad = net.head.weight.grad as Tensor;
    net.zeroGrad();
    expect(net.parameters().every((p) => p.grad === null)).toBe(true);
    expect(grad.isDisposed).toBe(true);
  });

  test('backward twice through the same graph raises AutogradError', () => {
    const net = new Net();
    const y = net.forward(Tensor.randn([2, 3]));
    y.backward(Tensor.ones(y.shape));
    expect(() => y.backward(Tensor.ones(y.shape))).toThrow(AutogradError);
  });

  test('requiresGrad_(false) freezes: no gradients reach the frozen part', () => {
    const net = new Net();
    net.stem.requiresGrad_(false);
    expect(net.numParameters()).toBe(1 + 2 * (9 + 3 + 3 + 3) + 6);
    expect(net.numParameters(false)).toBe(1 + 3 * (9 + 3 + 3 + 3) + 6);
    const y = net.forward(Tensor.randn([2, 3]));
    y.backward(Tensor.ones(y.shape));
    expect(net.stem.conv.weight.grad).toBeNull();
    expect(net.layers.get(0).conv.weight.grad).not.toBeNull();
    net.requiresGrad_();
    expect(net.stem.conv.weight.requiresGrad).toBe(true);
  });

  test('a back-reference to an ancestor is not walked as a child', () => {
    class Child extends Module {
      w = new Parameter(Tensor.ones([1]));
      owner: Module | null = null;
      forward(x: Tensor): Tensor {
        return x;
      }
    }
    class Parent extends Module {
      child = new Child();
      constructor() {
        super();
        this.child.owner = this;
      }
      forward(x: Tensor): Tensor {
        return x;
      }
    }
    const m = new Parent();
    expect(Object.keys(m.stateDict())).toEqual(['child.w']);
    expect(Array.from(m.namedModules(), ([n]) => n)).toEqual(['', 'child']);
    const visited: string[] = [];
    m.apply((x) => visited.push(x.constructor.name));
    expect(visited).toEqual(['Child', 'Parent']);
    expect(m.toString()).toBe('Parent()\n  (child): Child()\n    (owner): Parent(<cycle>)');
    expect(m.eval().child.training).toBe(false);
  });

  test('apply visits children before parents', () => {
    const names: string[] = [];
    const net = new Net();
    const nameOf = new Map(Array.from(net.namedModules(), ([n, m]) => [m, n]));
    net.apply((m) => names.push(nameOf.get(m) as string));
    expect(names).toEqual([
      'stem.conv',
      'stem.bn',
      'stem',
      'layers.0.conv',
      'layers.0.bn',
      'layers.0',
      'layers.1.conv',
      'layers.1.bn',
      'layers.1',
      'layers',
      'head',
      '',
    ]);
  });

  test("to('cpu') keeps the tensors; to('cuda') without a device is a DeviceError", () => {
    const net = new Net();
    const w = net.head.weight;
    expect(net.to('cpu')).toBe(net);
    expect(net.head.weight).toBe(w);
    expect(() => net.to('gpu' as 'cpu')).toThrow(
      "Module.to: expected device to be 'cpu' or 'cuda' but received \"gpu\" of type string",
    );
    if (!cuda.isAvailable()) expect(() => new FakeLinear(2, 2).to('cuda')).toThrow(DeviceError);
  });

  test('toString lists the module tree', () => {
    expect(new Net().toString().split('\n').slice(0, 3)).toEqual([
      'Net()',
      '  (stem): Block()',
      '    (conv): FakeLinear()',
    ]);
  });
});

describe('Sequential and ModuleList', () => {
  test('Sequential chains forward and names children 0, 1, ...', () => {
    const seq = new Sequential(new FakeLinear(3, 4, false), new FakeLinear(4, 2, false));
    expect(Object.keys(seq.stateDict())).toEqual(['0.weight', '1.weight']);
    expect(seq.length).toBe(2);
    const x = Tensor.randn([5, 3]);
    // x W0 W1 in float64, from the weights' values (not through the ops the layers call).
    const mm = (a: ArrayLike<number>, b: ArrayLike<number>, n: number, k: number, m: number) =>
      Array.from({ length: n * m }, (_, i) =>
        Array.from({ length: k }, (_, j) => a[Math.floor(i / m) * k + j] * b[j * m + (i % m)]).reduce(
          (s, v) => s + v,
          0,
        ),
      );
    const expected = mm(mm(x.data, seq.get(0).weight.data, 5, 3, 4), seq.get(1).weight.data, 5, 4, 2);
    expectClose(seq.forward(x).data, expected, 1e-5, 1e-5);
    expect(seq.get(-1)).toBe(seq.get(1));
  });

  test('more than ten children keep numeric order', () => {
    const list = new ModuleList(Array.from({ length: 12 }, () => new FakeLinear(1, 1, false)));
    expect(Object.keys(list.stateDict())).toEqual(Array.from({ length: 12 }, (_, i) => `${i}.weight`));
    list.push(new FakeLinear(1, 1, false));
    expect(list.length).toBe(13);
    expect([...list].length).toBe(13);
  });

  test('bad input: non-modules, out-of-range indices, ModuleList.forward', () => {
    const list = new ModuleList();
    expect(() => list.push(3 as unknown as Module)).toThrow(
      'ModuleList.push: expected a Module but received 3 of type number',
    );
    expect(() => list.get(0)).toThrow(ArgumentError);
    expect(() => new Sequential(new FakeLinear(1, 1)).get(1.5)).toThrow(/expected index to be an integer/);
    expect(() => list.forward()).toThrow(/has no forward/);
  });
});

const gpu = describeCuda('module.test');
gpu('Module on CUDA', () => {
  test("to('cuda') moves parameters and buffers; the state dict loads back on the CPU", () => {
    const net = new Net();
    const cpuState = Object.fromEntries(Object.entries(net.stateDict()).map(([k, t]) => [k, t.clone()]));
    net.to('cuda');
    for (const t of Object.values(net.stateDict())) expect(t.device).toBe('cuda');
    expect(net.parameters().every((p) => p instanceof Parameter && p.requiresGrad)).toBe(true);
    const back = new Net();
    back.loadStateDict(net.stateDict());
    for (const [k, t] of Object.entries(back.stateDict())) expect(t.toArray()).toEqual(cpuState[k].toArray());
    net.loadStateDict(cpuState);
    expect(net.stem.conv.weight.device).toBe('cuda');
  });
});

describe('errors inside forward name the layer by its path in the model', () => {
  test('a shape error deep in a ResNet names layer2.0.bn1 and keeps its type', async () => {
    const { resnet18 } = await import('../lib/models');
    const { BatchNorm2d } = await import('../lib/nn');
    const net = resnet18({ numClasses: 10, width: 4 });
    expect(() => net.forward(Tensor.randn([1, 2, 32, 32]))).toThrow(
      /^conv1 \(Conv2d\): Conv2d: expected input of shape \[N, 3, H, W\]/,
    );
    (net.layer2.get(0) as unknown as { bn1: unknown }).bn1 = new BatchNorm2d(5);
    let error: unknown = null;
    try {
      net.forward(Tensor.randn([1, 3, 32, 32]));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ShapeError);
    expect((error as Error).message).toMatch(
      /^layer2\.0\.bn1 \(BatchNorm2d\): BatchNorm2d: expected input of shape \[N, 5, H, W\]/,
    );
    // The wrapper is invisible to the walkers: no 'forward' key anywhere.
    expect(Object.keys(net.stateDict()).some((k) => k.includes('forward'))).toBe(false);
  });
});
