/**
 * An inference plan: a model's eval forward recorded once as its sequence of native calls, with
 * memory of its own for the intermediates (reused along the forward once a tensor's last reader
 * has run), then replayed for each new input of the same shape. What a replay skips is
 * everything JavaScript does between kernels (module dispatch, argument checks, autograd and
 * scope bookkeeping, allocation), which at batch 1 is about a tenth of a ResNet's forward: the
 * kernels' weight streams leave the interpreter's code and data cold, so each layer's few
 * microseconds of JavaScript cost tens.
 *
 *   const plan = new nn.InferencePlan(model, exampleInput);   // model.eval() first
 *   const y = plan.run(x);                                     // = noGrad(() => model.forward(x))
 *
 * A replay runs the same kernels with the same arguments in the same order as the forward it
 * recorded, so it returns the same values. The plan records again by itself when the weights
 * generation moves (optimizer steps, loaded state dicts, in-place ops, train / eval switches:
 * lib/weights_generation.ts), when a layer's tensor attribute was replaced or a tensor it reads
 * was freed, and for each new input shape (the last few shapes are kept).
 *
 * What cannot be recorded is refused with a typed error at recording time, never replayed
 * wrongly: a model in training mode; a forward that touches its activations (or the input) from
 * JavaScript (reads `data`, builds tensors from JavaScript values) or whose native calls return
 * values that steer it; native calls with global effects (freeing memory, thread or instruction
 * set changes, optimizer updates, random dropout); CUDA tensors. Not detectable, hence stated:
 * a forward that carries state from one call to the next in tensors it keeps (a recurrent
 * state, say) is replayed with the state it had when it was recorded.
 */
import { noGrad } from '../autograd';
import { ArgumentError, describe, DeviceError } from '../errors';
import { interceptNative, nativeTable } from '../native_intercept';
import { keep, withCreated } from '../scope';
import { recordHostAccess, storageProbe, Tensor } from '../tensor';
import { weightsGeneration } from '../weights_generation';
import { Module } from './module';

const WHERE = 'InferencePlan';

// Native calls that answer questions or make handles, about shapes and weights only: not replayed.
const QUERIES = new Set([
  'alignmentOffset',
  'addressAlignment',
  'memoryStats',
  'packedWeightsInfo',
  'getNumThreads',
  'isa',
  'buildInfo',
  'cudaInfo',
  'deformConv2dGeometry',
  'conv2dPackWeights',
  'deformConv2dPackWeights',
  'linearPackWeight',
  'linearPackedInfo',
]);

// Native calls a replay must never repeat (memory, global settings, training updates, randomness).
const NOT_REPLAYABLE = new Set([
  'release',
  'releaseCachedScratch',
  'resetPeakMemory',
  'setNumThreads',
  'setIsa',
  'setErrorClasses',
  'cudaAllocate',
  'cudaRelease',
  'cudaUpload',
  'cudaDownload',
  'sgdUpdate',
  'adamUpdate',
  'dropout',
]);

// Shapes whose recordings are kept (a model used at batch 1 and at batch 32 keeps both).
const SHAPES_KEPT = 4;

/** A tensor argument as native code reads it: `shape` and `buffer` (lib/tensor.ts). */
interface TensorArgument {
  shape: readonly number[];
  buffer: Float32Array;
}

/** A tensor argument as it was when a recorded call ran. */
interface SeenTensor {
  shape: readonly number[];
  buffer: Tensor['buffer'];
  device: Tensor['device'];
  /** Whether its memory is still allocated. */
  alive: () => boolean;
}

function isSeenTensor(a: unknown): a is SeenTensor {
  return typeof a === 'object' && a !== null && 'buffer' in a && 'device' in a && 'alive' in a;
}

interface Step {
  name: string;
  args: unknown[];
}

/** One recorded forward for one input shape. */
interface Recording {
  shape: readonly number[];
  steps: Step[];
  /** Arguments that stand for (views of) the input: their buffer is the current input's. */
  inputViews: TensorArgument[];
  /** The forward's output(s), in the plan's memory. */
  outputs: TensorArgument[];
  single: boolean;
  /** The plan's memory for the intermediates (disposed with the recording). */
  owned: Tensor[];
  /** One per tensor the forward reads that outlives it (weights): true while its memory lives. */
  guards: (() => boolean)[];
  /** The model's tensor attributes when it was recorded (module, key, tensor). */
  attributes: [Module, string, Tensor][];
}

/** Every tensor held in a module attribute of `model` (weights, biases, parameters of layers). */
function tensorAttributes(model: Module): [Module, string, Tensor][] {
  const found: [Module, string, Tensor][] = [];
  for (const m of model.modules()) {
    for (const [key, value] of Object.entries(m)) if (value instanceof Tensor) found.push([m, key, value]);
  }
  return found;
}

/**
 * Whether `r` still describes the model: the weights it reads are allocated, and no layer's
 * tensor attribute was replaced (a new Parameter assigned without an announced change, which
 * the layers' own caches notice by identity).
 */
function stillValid(r: Recording): boolean {
  for (const alive of r.guards) if (!alive()) return false;
  for (const [m, key, t] of r.attributes) if ((m as unknown as Record<string, unknown>)[key] !== t) return false;
  return true;
}

function refuse(model: Module, reason: string): never {
  throw new ArgumentError(
    `${WHERE}: cannot record ${model.constructor.name}'s forward: ${reason}; call model.forward under noGrad instead`,
  );
}

export class InferencePlan {
  private readonly recordings = new Map<string, Recording>();
  private generation = -1;
  private disposed = false;

  /** Records `model`'s forward on `example` (eval mode, CPU); see the file comment. */
  constructor(
    readonly model: Module,
    example: Tensor,
  ) {
    if (!(model instanceof Module)) {
      throw new ArgumentError(`${WHERE}: expected model to be an nn.Module but received ${describe(model)}`);
    }
    this.check(example, 'example');
    this.recordingFor(example);
  }

  /**
   * model.forward(input) under noGrad, replayed: a new Tensor (an array of them for a model that
   * returns several); the plan keeps nothing of the input or the result.
   */
  run<T extends Tensor | Tensor[] = Tensor>(input: Tensor): T {
    if (this.disposed) throw new ArgumentError(`${WHERE}: the plan was disposed`);
    this.check(input, 'input');
    const recording = this.recordingFor(input);
    for (const view of recording.inputViews) view.buffer = input.buffer as Float32Array;
    try {
      const addon = nativeTable();
      for (const step of recording.steps) addon[step.name](...step.args);
    } finally {
      // Nothing of the caller's input stays reachable from the plan, even when a kernel threw.
      for (const view of recording.inputViews) view.buffer = EMPTY;
    }
    const results = recording.outputs.map((o) => {
      const t = Tensor.empty(o.shape);
      t.data.set(o.buffer);
      return t;
    });
    return (recording.single ? results[0] : results) as T;
  }

  /** Bytes of memory the plan holds for its intermediates and outputs (all recordings). */
  get bytes(): number {
    let sum = 0;
    for (const r of this.recordings.values()) for (const t of r.owned) sum += 4 * t.numel;
    return sum;
  }

  /** Input shapes with a recording now. */
  get shapes(): number[][] {
    return [...this.recordings.values()].map((r) => [...r.shape]);
  }

  /** Frees the plan's memory; run() then refuses. */
  dispose(): void {
    for (const r of this.recordings.values()) for (const t of r.owned) t.dispose();
    this.recordings.clear();
    this.disposed = true;
  }

  private check(input: unknown, name: string): asserts input is Tensor {
    if (!(input instanceof Tensor)) {
      throw new ArgumentError(`${WHERE}: expected ${name} to be a Tensor but received ${describe(input)}`);
    }
    if (input.isDisposed) throw new ArgumentError(`${WHERE}: ${name} was disposed`);
    if (input.device !== 'cpu') {
      throw new DeviceError(`${WHERE}: plans run on the CPU but ${name} is on ${input.device}`);
    }
  }

  private recordingFor(input: Tensor): Recording {
    if (this.generation !== weightsGeneration()) {
      for (const r of this.recordings.values()) for (const t of r.owned) t.dispose();
      this.recordings.clear();
      this.generation = weightsGeneration();
    }
    const key = input.shape.join(',');
    const known = this.recordings.get(key);
    // A weight replaced or freed since without an announced change: record again rather than
    // replay old weights or read memory that may belong to another tensor by now.
    if (known && stillValid(known)) return known;
    if (known) {
      for (const t of known.owned) t.dispose();
      this.recordings.delete(key);
    }
    if (this.recordings.size >= SHAPES_KEPT) {
      const [oldestKey, oldest] = this.recordings.entries().next().value as [string, Recording];
      for (const t of oldest.owned) t.dispose();
      this.recordings.delete(oldestKey);
    }
    const recording = record(this.model, input);
    // Recording may itself move the generation (caches built on first use announce nothing,
    // but a model could): the recording is valid for the generation after it.
    this.generation = weightsGeneration();
    this.recordings.set(key, recording);
    return recording;
  }
}

const EMPTY = new Float32Array(0);

/** One warm-up forward (caches of folded and packed weights filled), then the recorded one. */
function record(model: Module, input: Tensor): Recording {
  for (const m of model.modules()) {
    if (m.training) refuse(model, `${m.constructor.name} is in training mode (call model.eval() first)`);
  }
  const forward = (): unknown => noGrad(() => model.forward(input));
  withCreated(forward).created.forEach((t) => t.dispose());

  const allocated = new Set<Float32Array>();
  const touched: Tensor[] = [];
  const calls: Call[] = [];
  const previous = recordHostAccess({ allocated: (b) => allocated.add(b), touched: (t) => touched.push(t) });
  // Tensor arguments are seen as native code saw them during the call (a view made for one
  // call is disposed right after it, which empties its buffer).
  const seen = (a: unknown): unknown => {
    if (a instanceof Tensor) {
      return { shape: a.shape, buffer: a.buffer, device: a.device, alive: storageProbe(a) } satisfies SeenTensor;
    }
    return Array.isArray(a) && a.some((e) => e instanceof Tensor) ? a.map(seen) : a;
  };
  const restore = interceptNative((name, current) => (...args: unknown[]) => {
    const returned = current(...args);
    calls.push({ name, args: args.map(seen), returned });
    return returned;
  });
  let run: { result: unknown; created: Set<Tensor> };
  try {
    run = withCreated(forward);
  } finally {
    restore();
    recordHostAccess(previous);
  }
  try {
    return build(model, input, run.result, calls, allocated, touched);
  } finally {
    for (const t of run.created) t.dispose();
  }
}

type Call = { name: string; args: unknown[]; returned: unknown };

/** The tensor arguments of a call (at the top level or inside an array argument). */
function tensorsOf(args: unknown[]): SeenTensor[] {
  return args.flatMap((a) => (isSeenTensor(a) ? [a] : Array.isArray(a) ? a.filter(isSeenTensor) : []));
}

/** The calls to replay, in order: queries dropped, what cannot be replayed refused. */
function replayedCalls(model: Module, calls: Call[], fromForward: (b: unknown) => boolean): Call[] {
  const kept: Call[] = [];
  for (const call of calls) {
    if (NOT_REPLAYABLE.has(call.name)) refuse(model, `its forward calls the native ${call.name}`);
    if (QUERIES.has(call.name)) {
      if (tensorsOf(call.args).some((t) => fromForward(t.buffer))) {
        refuse(model, `its forward asks ${call.name} about an activation`);
      }
      continue;
    }
    if (call.returned !== undefined) refuse(model, `its forward uses what the native ${call.name} returns`);
    kept.push(call);
  }
  return kept;
}

/**
 * The plan's memory for the forward's intermediates (the storage allocated while it recorded),
 * reused as the forward goes: a storage first used at step i takes the memory of one of the same
 * size whose last use was before step i (never at step i itself: a kernel may read one while it
 * writes the other). The outputs stay live to the end.
 */
function assignMemory(
  calls: Call[],
  allocated: Set<Float32Array>,
  outputs: Float32Array[],
  owned: Tensor[],
): Map<Float32Array, Float32Array> {
  const spans = new Map<Float32Array, { first: number; last: number }>();
  calls.forEach((call, i) => {
    for (const t of tensorsOf(call.args)) {
      const buffer = t.buffer as Float32Array;
      if (!allocated.has(buffer)) continue;
      const span = spans.get(buffer);
      if (span) span.last = i;
      else spans.set(buffer, { first: i, last: i });
    }
  });
  for (const o of outputs) {
    const span = spans.get(o);
    if (span) span.last = Infinity;
    else spans.set(o, { first: calls.length, last: Infinity }); // made but never written by a kernel
  }
  const memory = new Map<Float32Array, Float32Array>();
  const free = new Map<number, Float32Array[]>();
  const live: { buffer: Float32Array; last: number }[] = [];
  for (const [buffer, span] of [...spans.entries()].sort((a, b) => a[1].first - b[1].first)) {
    for (let k = live.length - 1; k >= 0; k--) {
      if (live[k].last >= span.first) continue;
      const mine = memory.get(live[k].buffer) as Float32Array;
      const sameSize = free.get(mine.length);
      if (sameSize) sameSize.push(mine);
      else free.set(mine.length, [mine]);
      live.splice(k, 1);
    }
    let mine = free.get(buffer.length)?.pop();
    if (!mine) {
      const storage = keep(Tensor.empty([buffer.length]));
      owned.push(storage);
      mine = storage.buffer as Float32Array;
    }
    memory.set(buffer, mine);
    live.push({ buffer, last: span.last });
  }
  return memory;
}

function build(
  model: Module,
  input: Tensor,
  result: unknown,
  recorded: Call[],
  allocated: Set<Float32Array>,
  touched: Tensor[],
): Recording {
  const isInput = (b: unknown): boolean => b === input.buffer;
  const fromForward = (b: unknown): boolean => isInput(b) || allocated.has(b as Float32Array);
  for (const t of touched) {
    if (fromForward(t.buffer)) {
      refuse(model, `its forward touches a tensor of shape [${t.shape.join(', ')}] from JavaScript`);
    }
  }
  const calls = replayedCalls(model, recorded, fromForward);
  const outputs = Array.isArray(result) ? result : [result];
  if (outputs.length === 0 || !outputs.every((o) => o instanceof Tensor)) {
    refuse(model, `its forward returns ${describe(result)}, not a Tensor or an array of Tensors`);
  }
  for (const o of outputs as Tensor[]) {
    if (!allocated.has(o.buffer as Float32Array)) {
      refuse(model, 'its output is not computed by the forward (the input or a weight returned as is)');
    }
  }
  const owned: Tensor[] = [];
  const memory = assignMemory(
    calls,
    allocated,
    (outputs as Tensor[]).map((o) => o.buffer as Float32Array),
    owned,
  );
  const inputViews: TensorArgument[] = [];
  const guards = new Map<Float32Array, () => boolean>();
  // A tensor argument of the recorded call: the input (or a view of it), the plan's memory for
  // an intermediate, or the memory itself when it outlives the forward (weights, folded weights).
  const mapTensor = (t: SeenTensor): TensorArgument => {
    if (t.device !== 'cpu') refuse(model, `its forward uses a ${t.device} tensor`);
    const buffer = t.buffer as Float32Array;
    if (isInput(buffer)) {
      const view = { shape: t.shape, buffer: EMPTY };
      inputViews.push(view);
      return view;
    }
    const mine = memory.get(buffer);
    if (mine) return { shape: t.shape, buffer: mine };
    guards.set(buffer, t.alive);
    return { shape: t.shape, buffer };
  };
  try {
    const steps = calls.map((call) => ({
      name: call.name,
      args: call.args.map((a) => {
        if (isSeenTensor(a)) return mapTensor(a);
        return Array.isArray(a) && a.some(isSeenTensor) ? a.map((e) => (isSeenTensor(e) ? mapTensor(e) : e)) : a;
      }),
    }));
    return {
      shape: [...input.shape],
      steps,
      inputViews,
      outputs: (outputs as Tensor[]).map((o) =>
        mapTensor({ shape: o.shape, buffer: o.buffer, device: o.device, alive: storageProbe(o) }),
      ),
      single: !Array.isArray(result),
      owned,
      guards: [...guards.values()],
      attributes: tensorAttributes(model),
    };
  } catch (e) {
    for (const t of owned) t.dispose();
    throw e;
  }
}
