/**
 * An inference plan: a model's eval forward recorded once as its sequence of native calls, with
 * every intermediate tensor given memory of its own, then replayed for each new input of the
 * same shape. What a replay skips is everything JavaScript does between kernels (module
 * dispatch, argument checks, autograd and scope bookkeeping, allocation), which at batch 1 is
 * about a tenth of a ResNet's forward: the kernels' weight streams leave the interpreter's code
 * and data cold, so each layer's few microseconds of JavaScript cost tens.
 *
 *   const plan = new nn.InferencePlan(model, exampleInput);   // model.eval() first
 *   const y = plan.run(x);                                     // = noGrad(() => model.forward(x))
 *
 * A replay runs the same kernels with the same arguments in the same order as the forward it
 * recorded, so it returns the same values. The plan records again by itself when the weights
 * generation moves (optimizer steps, loaded state dicts, in-place ops, train / eval switches:
 * lib/weights_generation.ts) and for each new input shape (the last few shapes are kept).
 *
 * What cannot be recorded is refused with a typed error at recording time, never replayed
 * wrongly: a model in training mode; a forward that touches its activations (or the input) from
 * JavaScript (reads `data`, builds tensors from JavaScript values) or whose native calls return
 * values that steer it; native calls with global effects (freeing memory, thread or instruction
 * set changes, optimizer updates, random dropout); CUDA tensors.
 */
import { noGrad } from '../autograd';
import { ArgumentError, describe, DeviceError } from '../errors';
import { interceptNative, nativeTable } from '../native_intercept';
import { keep, withCreated } from '../scope';
import { recordHostAccess, Tensor } from '../tensor';
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
}

function isSeenTensor(a: unknown): a is SeenTensor {
  return typeof a === 'object' && a !== null && 'buffer' in a && 'device' in a && 'shape' in a;
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
    const addon = nativeTable();
    for (const step of recording.steps) addon[step.name](...step.args);
    const results = recording.outputs.map((o) => {
      const t = Tensor.empty(o.shape);
      t.data.set(o.buffer);
      return t;
    });
    // Nothing of the caller's input stays reachable from the plan.
    for (const view of recording.inputViews) view.buffer = EMPTY;
    return (recording.single ? results[0] : results) as T;
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
    if (known) return known;
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
  const calls: { name: string; args: unknown[]; returned: unknown }[] = [];
  const previous = recordHostAccess({ allocated: (b) => allocated.add(b), touched: (t) => touched.push(t) });
  // Tensor arguments are seen as native code saw them during the call (a view made for one
  // call is disposed right after it, which empties its buffer).
  const seen = (a: unknown): unknown => {
    if (a instanceof Tensor) return { shape: a.shape, buffer: a.buffer, device: a.device } satisfies SeenTensor;
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

function build(
  model: Module,
  input: Tensor,
  result: unknown,
  calls: { name: string; args: unknown[]; returned: unknown }[],
  allocated: Set<Float32Array>,
  touched: Tensor[],
): Recording {
  const isInput = (b: unknown): boolean => b === input.buffer;
  for (const t of touched) {
    if (allocated.has(t.buffer as Float32Array) || isInput(t.buffer)) {
      refuse(model, `its forward touches a tensor of shape [${t.shape.join(', ')}] from JavaScript`);
    }
  }
  const owned: Tensor[] = [];
  const planMemory = new Map<Float32Array, Float32Array>();
  const inputViews: TensorArgument[] = [];
  // A tensor argument of the recorded call: the input (or a view of it), the plan's copy of an
  // intermediate, or the memory itself when it outlives the forward (weights, folded weights).
  const mapTensor = (t: SeenTensor): TensorArgument => {
    if (t.device !== 'cpu') refuse(model, `its forward uses a ${t.device} tensor`);
    const buffer = t.buffer as Float32Array;
    if (isInput(buffer)) {
      const view = { shape: t.shape, buffer: EMPTY };
      inputViews.push(view);
      return view;
    }
    if (!allocated.has(buffer)) return { shape: t.shape, buffer };
    let mine = planMemory.get(buffer);
    if (!mine) {
      const storage = keep(Tensor.empty([buffer.length]));
      owned.push(storage);
      mine = storage.buffer as Float32Array;
      planMemory.set(buffer, mine);
    }
    return { shape: t.shape, buffer: mine };
  };
  const dataDependent = (args: unknown[]): boolean =>
    args.some((a) => isSeenTensor(a) && (allocated.has(a.buffer as Float32Array) || isInput(a.buffer)));
  const steps: Step[] = [];
  try {
    for (const call of calls) {
      if (NOT_REPLAYABLE.has(call.name)) refuse(model, `its forward calls the native ${call.name}`);
      if (QUERIES.has(call.name)) {
        if (dataDependent(call.args)) refuse(model, `its forward asks ${call.name} about an activation`);
        continue;
      }
      if (call.returned !== undefined) refuse(model, `its forward uses what the native ${call.name} returns`);
      const args = call.args.map((a) => {
        if (isSeenTensor(a)) return mapTensor(a);
        if (Array.isArray(a) && a.some(isSeenTensor))
          return a.map((e: unknown) => (isSeenTensor(e) ? mapTensor(e) : e));
        return a;
      });
      steps.push({ name: call.name, args });
    }
    const outputs = Array.isArray(result) ? result : [result];
    if (outputs.length === 0 || !outputs.every((o) => o instanceof Tensor)) {
      refuse(model, `its forward returns ${describe(result)}, not a Tensor or an array of Tensors`);
    }
    const mappedOutputs = (outputs as Tensor[]).map((o) => {
      if (!allocated.has(o.buffer as Float32Array)) {
        refuse(model, 'its output is not computed by the forward (the input or a weight returned as is)');
      }
      return mapTensor(o);
    });
    return {
      shape: [...input.shape],
      steps,
      inputViews,
      outputs: mappedOutputs,
      single: !Array.isArray(result),
      owned,
    };
  } catch (e) {
    for (const t of owned) t.dispose();
    throw e;
  }
}
