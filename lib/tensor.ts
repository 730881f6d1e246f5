/**
 * Tensor: a float32, contiguous, NCHW-friendly n-d array on the CPU or a CUDA device.
 *
 * CPU memory is 64-byte aligned and shared between JS and native code without copies:
 * `t.data` is a Float32Array over it and kernels read the same bytes. Memory goes back when the
 * tensor is garbage collected, at once on `dispose()`, or at the end of a `tidy()` scope. Views
 * made by `reshape` share storage; the storage is freed when its last live view is disposed.
 *
 * Tensors always own contiguous row-major storage with no offset; ops that would produce
 * strided views (slice, permute) copy instead, which keeps every kernel simple.
 *
 * Native code reads two fields of this class directly: `shape` and `buffer` (see
 * native/binding/args.h). Keep their names.
 */
import { checkInt, checkShape, expectOptionsObject, shapeString } from './check';
import { constants as bufferConstants } from 'node:buffer';
import * as os from 'node:os';
import { backward as runBackward, record } from './autograd';
import { ArgumentError, AutogradError, DeviceError, describe, OutOfMemoryError, ShapeError } from './errors';
import { native } from './native';
import { BinaryCode } from './native_api';
import { defaultGenerator, Generator } from './random';
import { trackInScope } from './scope';
import { cachedBytes, giveBack, takeCached } from './storage_pool';

export type Device = 'cpu' | 'cuda';

/** Opaque handle to CUDA device memory. */
export type CudaHandle = object;

let undisposedBytes = 0;

/** What a disposed CPU tensor's `buffer` becomes: native code rejects it (0 elements). */
const DISPOSED = new Float32Array(0);

/**
 * Bytes of live CPU tensor storage: allocated, not disposed, and not reclaimed by the garbage
 * collector. A loop that disposes (or tidies) what it creates keeps this flat at once; storage
 * it merely drops is subtracted when the GC collects it (tensors of 16 KB and more: see
 * TRACKED_BYTES; smaller dropped ones stay counted).
 */
export function tensorBytes(): number {
  return undisposedBytes;
}

/**
 * CPU storage that became unreachable without dispose() leaves the count when the GC collects
 * it. Only storage of at least TRACKED_BYTES is registered: a registration per tiny tensor
 * costs more time and memory (measured: 170 MB of RSS over a million 64-byte tensors) than the
 * few bytes it would account for. (Dropped CUDA storage is freed by its handle's own finalizer,
 * native/binding/cuda_memory.cc.)
 */
const TRACKED_BYTES = 16 * 1024;
const collected = new FinalizationRegistry<number>((bytes) => {
  undisposedBytes -= bytes;
});

/** One allocation, shared by a tensor and its reshaped views. */
class Storage {
  refs = 1;
  constructor(
    readonly buffer: Float32Array | CudaHandle,
    readonly device: Device,
  ) {
    if (device === 'cpu') {
      const bytes = (buffer as Float32Array).byteLength;
      undisposedBytes += bytes;
      if (bytes >= TRACKED_BYTES) collected.register(this, bytes, this);
    }
  }

  release(): void {
    if (--this.refs > 0) return;
    if (this.device === 'cpu') {
      if ((this.buffer as Float32Array).byteLength >= TRACKED_BYTES) collected.unregister(this);
      undisposedBytes -= (this.buffer as Float32Array).byteLength;
      giveBack(this.buffer as Float32Array);
    } else {
      native().cudaRelease(this.buffer);
    }
  }
}

/**
 * What an inference plan (lib/nn/inference_plan.ts) is told while it records a forward: the
 * CPU storage allocated meanwhile, and every tensor whose values JavaScript touches (`data`,
 * `toArray` and what is built on them; values written by Tensor.from, zeros, clone). A forward
 * that touches its activations in JavaScript cannot be replayed as native calls alone.
 * @internal
 */
export interface HostAccessRecorder {
  allocated(buffer: Float32Array): void;
  touched(t: Tensor): void;
}

let recorder: HostAccessRecorder | null = null;

/**
 * A probe that answers true while the memory behind `t` (shared by all its views) is still
 * allocated: an inference plan checks that the weights it reads are still there. @internal
 */
export function storageProbe(t: Tensor): () => boolean {
  const storage = (t as unknown as { storage: Storage }).storage;
  return () => storage.refs > 0;
}

/** Installs `next` (or none); returns the recorder it replaces. @internal */
export function recordHostAccess(next: HostAccessRecorder | null): HostAccessRecorder | null {
  const previous = recorder;
  recorder = next;
  return previous;
}

/**
 * A Float32Array of `numel` floats starting at a 64-byte aligned address, in memory V8 owns
 * (see native/binding/storage.cc for why not external memory).
 */
function allocateHost(numel: number, zero: boolean): Float32Array {
  const cached = takeCached(numel);
  if (cached) return zero ? cached.fill(0) : cached;
  const bytes = numel * 4 + 64;
  const buffer = zero ? new ArrayBuffer(bytes) : Buffer.allocUnsafeSlow(bytes).buffer;
  const offset = native().alignmentOffset(buffer) as number;
  return new Float32Array(buffer, offset, numel);
}

/** A node of the autograd graph: how to turn the gradient of an op's output into its inputs'. */
export interface GradNode {
  readonly op: string;
  readonly inputs: readonly (Tensor | null)[];
  /** null once the graph has been released after backward. */
  backward: ((gradOutput: Tensor) => (Tensor | null | undefined)[]) | null;
}

function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (let i = 0; i < shape.length; i++) n *= shape[i];
  return n;
}

const MB = 1024 ** 2;
const GB = 1024 ** 3;
/** Allocations below this skip the available-memory check (see checkAllocation). */
const CHECKED_ALLOCATION_BYTES = MB;
const gb = (bytes: number): string =>
  bytes < GB ? `${(bytes / MB).toFixed(1)} MB` : `${(bytes / GB).toFixed(bytes < 10 * GB ? 2 : 0)} GB`;

/**
 * The largest CPU allocation allowed now: FLEXCONV_MAX_ALLOC_MB when set, else the memory the
 * machine has available plus what flexconv's own pool holds for reuse.
 */
export function maxAllocationBytes(): number {
  return envLimitBytes() ?? os.freemem() + cachedBytes();
}

/** FLEXCONV_MAX_ALLOC_MB in bytes, or null when it is not set (or not a positive number). */
function envLimitBytes(): number | null {
  const env = process.env.FLEXCONV_MAX_ALLOC_MB;
  return env !== undefined && env !== '' && Number.isFinite(Number(env)) && Number(env) > 0
    ? Number(env) * 1024 * 1024
    : null;
}

/** The last system reading of maxAllocationBytes() and when it was taken (performance.now()). */
let lastReading = { bytes: 0, at: -Infinity };
/** How long a reading stands in for the system's answer, for allocations well below it. */
const READING_VALID_MS = 100;

/**
 * maxAllocationBytes() for an allocation of `bytes`: the system is asked again only when its
 * last answer is older than READING_VALID_MS, or the allocation is more than a quarter of it, or
 * exceeds it (a refusal always rests on a fresh reading). Each reading costs a few microseconds
 * of kernel time plus the cache lines it evicts: an octave layer's forward, which allocates four
 * megabyte-sized tensors, measured about 4% faster without them.
 */
function allocationLimit(bytes: number): number {
  const env = envLimitBytes();
  if (env !== null) return env;
  const now = performance.now();
  if (now - lastReading.at > READING_VALID_MS || bytes > lastReading.bytes / 4) {
    lastReading = { bytes: os.freemem() + cachedBytes(), at: now };
  }
  return lastReading.bytes;
}

/**
 * Checks a tensor's size before anything is allocated: the element count in exact arithmetic,
 * what one array can hold, and the memory available (an OutOfMemoryError at once instead of a
 * process that fills the machine, or Node's generic RangeError). Returns the element count.
 */
export function checkAllocation(where: string, shape: readonly number[], device: Device): number {
  let numel = 1;
  for (let i = 0; i < shape.length; i++) numel *= shape[i];
  if (!Number.isSafeInteger(numel)) {
    throw new ShapeError(`${where}: shape ${shapeString(shape)} has ${numel} elements, more than any tensor can hold`);
  }
  if (device !== 'cpu') return numel;
  const bytes = numel * 4 + 64;
  if (bytes > bufferConstants.MAX_LENGTH) {
    throw new OutOfMemoryError(
      `${where}: a tensor of shape ${shapeString(shape)} needs ${gb(bytes)}, more than one array can hold here (${gb(bufferConstants.MAX_LENGTH)})`,
    );
  }
  // Asking the system (a read of /proc/meminfo) costs ~10 us: only for allocations large enough
  // to matter, never on the hot path of a training step's small tensors.
  if (bytes < CHECKED_ALLOCATION_BYTES) return numel;
  const limit = allocationLimit(bytes);
  if (bytes > limit) {
    throw new OutOfMemoryError(
      `${where}: a tensor of shape ${shapeString(shape)} needs ${gb(bytes)} but ${gb(limit)} is available` +
        (process.env.FLEXCONV_MAX_ALLOC_MB ? ' (FLEXCONV_MAX_ALLOC_MB)' : ''),
    );
  }
  return numel;
}

function allocate(numel: number, device: Device, zero: boolean): Storage {
  if (device === 'cpu') {
    const buffer = allocateHost(numel, zero);
    recorder?.allocated(buffer);
    return new Storage(buffer, 'cpu');
  }
  const handle = native().cudaAllocate(numel) as CudaHandle;
  const storage = new Storage(handle, 'cuda');
  if (zero) native().cudaUpload(handle, new Float32Array(numel));
  return storage;
}

function checkDevice(where: string, device: unknown): Device {
  if (device !== 'cpu' && device !== 'cuda') {
    throw new ArgumentError(`${where}: expected device to be 'cpu' or 'cuda' but received ${describe(device)}`);
  }
  return device;
}

export interface TensorOptions {
  device?: Device;
  requiresGrad?: boolean;
}

export class Tensor {
  /** Dimensions, outermost first. Never mutated. */
  readonly shape: readonly number[];
  /** Float32Array (CPU) or CUDA handle; read by native code. */
  buffer: Float32Array | CudaHandle;
  readonly device: Device;
  /** True if gradients flow to or through this tensor. */
  requiresGrad = false;
  /** Accumulated gradient (leaf tensors with requiresGrad) after backward(). */
  grad: Tensor | null = null;
  /** The op that produced this tensor, if it was recorded for autograd. */
  gradFn: GradNode | null = null;

  private storage: Storage;
  private disposedFlag = false;

  /**
   * Low-level. Subclasses (nn.Parameter) pass an existing tensor to share its storage; users
   * create tensors with the static creators (Tensor.from, zeros, ...).
   */
  protected constructor(source: Storage | Tensor, shape: readonly number[]) {
    let storage: Storage;
    if (source instanceof Tensor) {
      source.assertLive('share');
      storage = source.storage;
      storage.refs++;
    } else {
      storage = source;
    }
    this.storage = storage;
    this.buffer = storage.buffer;
    this.device = storage.device;
    this.shape = Object.freeze([...shape]);
    trackInScope(this);
  }

  // ---- creation ------------------------------------------------------------------------

  /** Uninitialised tensor (contents are whatever the memory held). */
  static empty(shape: readonly number[], options: TensorOptions = {}): Tensor {
    const s = checkShape('Tensor.empty', 'shape', shape);
    expectOptionsObject('Tensor.empty', options);
    const device = checkDevice('Tensor.empty', options.device ?? 'cpu');
    const t = new Tensor(allocate(checkAllocation('Tensor.empty', s, device), device, false), s);
    t.requiresGrad = options.requiresGrad ?? false;
    return t;
  }

  static zeros(shape: readonly number[], options: TensorOptions = {}): Tensor {
    const s = checkShape('Tensor.zeros', 'shape', shape);
    expectOptionsObject('Tensor.zeros', options);
    const device = checkDevice('Tensor.zeros', options.device ?? 'cpu');
    const t = new Tensor(allocate(checkAllocation('Tensor.zeros', s, device), device, true), s);
    recorder?.touched(t);
    t.requiresGrad = options.requiresGrad ?? false;
    return t;
  }

  static full(shape: readonly number[], value: number, options: TensorOptions = {}): Tensor {
    if (typeof value !== 'number') {
      throw new ArgumentError(`Tensor.full: expected value to be a number but received ${describe(value)}`);
    }
    return Tensor.fromFunction('Tensor.full', shape, () => value, options);
  }

  static ones(shape: readonly number[], options: TensorOptions = {}): Tensor {
    return Tensor.full(shape, 1, options);
  }

  /**
   * From values in row-major order. `shape` defaults to [data.length]. The data is copied
   * (into aligned native memory).
   */
  static from(data: Float32Array | ArrayLike<number>, shape?: readonly number[], options: TensorOptions = {}): Tensor {
    if (data === null || typeof data !== 'object' || typeof (data as ArrayLike<number>).length !== 'number') {
      throw new ArgumentError(
        `Tensor.from: expected data to be a Float32Array or an array of numbers but received ${describe(data)}`,
      );
    }
    const s = checkShape('Tensor.from', 'shape', shape ?? [data.length]);
    expectOptionsObject('Tensor.from', options);
    if (numelOf(s) !== data.length) {
      throw new ShapeError(
        `Tensor.from: expected data to have ${numelOf(s)} elements for shape ${shapeString(s)} but received ${data.length}`,
      );
    }
    const device = checkDevice('Tensor.from', options.device ?? 'cpu');
    const host = new Tensor(allocate(data.length, 'cpu', false), s);
    (host.buffer as Float32Array).set(data);
    recorder?.touched(host);
    host.requiresGrad = options.requiresGrad ?? false;
    if (device === 'cpu') return host;
    const moved = host.to(device);
    moved.requiresGrad = host.requiresGrad;
    host.dispose();
    return moved;
  }

  /** Normal(mean, std) samples from `generator` (the seedable global one by default). */
  static randn(
    shape: readonly number[],
    options: TensorOptions & { mean?: number; std?: number; generator?: Generator } = {},
  ): Tensor {
    expectOptionsObject('Tensor.randn', options);
    const g = options.generator ?? defaultGenerator;
    const mean = options.mean ?? 0;
    const std = options.std ?? 1;
    return Tensor.fromFunction('Tensor.randn', shape, () => mean + std * g.normal(), options);
  }

  /** Uniform samples in [low, high). */
  static rand(
    shape: readonly number[],
    options: TensorOptions & { low?: number; high?: number; generator?: Generator } = {},
  ): Tensor {
    expectOptionsObject('Tensor.rand', options);
    const g = options.generator ?? defaultGenerator;
    const low = options.low ?? 0;
    const high = options.high ?? 1;
    return Tensor.fromFunction('Tensor.rand', shape, () => low + (high - low) * g.uniform(), options);
  }

  /** [start, start+step, ...) up to (not including) end, as a 1-D tensor. */
  static arange(start: number, end?: number, step = 1, options: TensorOptions = {}): Tensor {
    if (end === undefined) {
      end = start;
      start = 0;
    }
    if (![start, end, step].every((v) => typeof v === 'number' && Number.isFinite(v)) || step === 0) {
      throw new ArgumentError(
        `Tensor.arange: expected finite start, end and a non-zero step but received ${start}, ${end}, ${step}`,
      );
    }
    const n = Math.max(0, Math.ceil((end - start) / step));
    const s = start;
    return Tensor.fromFunction('Tensor.arange', [n], (i) => s + i * step, options);
  }

  private static fromFunction(
    where: string,
    shape: readonly number[],
    f: (i: number) => number,
    options: TensorOptions,
  ): Tensor {
    const s = checkShape(where, 'shape', shape);
    expectOptionsObject(where, options);
    const n = checkAllocation(where, s, 'cpu'); // the values are made on the host first
    const values = new Float32Array(n);
    for (let i = 0; i < n; i++) values[i] = f(i);
    return Tensor.from(values, s, options);
  }

  // ---- properties ----------------------------------------------------------------------

  get ndim(): number {
    return this.shape.length;
  }

  get numel(): number {
    return numelOf(this.shape);
  }

  get isDisposed(): boolean {
    return this.disposedFlag;
  }

  /** Zero-copy Float32Array over the CPU storage. Writes are visible to the tensor. */
  get data(): Float32Array {
    this.assertLive('data');
    recorder?.touched(this);
    if (this.device !== 'cpu') {
      throw new DeviceError(`Tensor.data: the tensor is on ${this.device}; call .to('cpu') first`);
    }
    return this.buffer as Float32Array;
  }

  /** The values as a plain array, in row-major order (copies; works on any device). */
  toArray(): number[] {
    this.assertLive('toArray');
    recorder?.touched(this);
    if (this.device === 'cpu') return Array.from(this.buffer as Float32Array);
    const host = new Float32Array(this.numel);
    native().cudaDownload(this.buffer, host);
    return Array.from(host);
  }

  /** The single value of a one-element tensor. */
  item(): number {
    if (this.numel !== 1) {
      throw new ShapeError(
        `Tensor.item: expected a tensor with one element but received shape ${shapeString(this.shape)}`,
      );
    }
    return this.toArray()[0];
  }

  // ---- views and copies ----------------------------------------------------------------

  /**
   * Same storage, new shape (one dimension may be -1 and is inferred). Differentiable, as in
   * PyTorch: recorded by autograd (and the ONNX tracer) exactly like ops.reshape.
   */
  view(shape: readonly number[]): Tensor {
    this.assertLive('view');
    return reshapeRecorded(this, resolveShape('Tensor.view', shape, this.numel, this.shape));
  }

  /** Alias of view(). */
  reshape(shape: readonly number[]): Tensor {
    this.assertLive('reshape');
    return reshapeRecorded(this, resolveShape('Tensor.reshape', shape, this.numel, this.shape));
  }

  /**
   * @internal Same storage, new shape, recorded by nothing: for ops that reshape their own
   * operands and gradients (their own record() covers the op). Users call view() / reshape().
   */
  rawView(shape: readonly number[]): Tensor {
    this.assertLive('view');
    const resolved = resolveShape('Tensor.view', shape, this.numel, this.shape);
    this.storage.refs++;
    return new Tensor(this.storage, resolved);
  }

  /** A copy with its own storage, on the same device; differentiable (gradients pass through), as in PyTorch. */
  clone(): Tensor {
    this.assertLive('clone');
    const t = new Tensor(allocate(this.numel, this.device, false), this.shape);
    if (this.device === 'cpu') {
      (t.buffer as Float32Array).set(this.buffer as Float32Array);
      recorder?.touched(this);
    } else {
      native().binary(this, this, t, BinaryCode.second); // a device-side copy
    }
    return record(
      'clone',
      [this],
      t,
      (g) => [g],
      (ctx) => ctx.node('Identity', [ctx.name(this)], [ctx.output]),
    );
  }

  /**
   * A copy on `device` (this tensor itself if it is already there); differentiable: the
   * gradient goes back to this tensor's device.
   */
  to(device: Device): Tensor {
    this.assertLive('to');
    checkDevice('Tensor.to', device);
    if (device === this.device) return this;
    const from = this.device;
    const t = new Tensor(allocate(this.numel, device, false), this.shape);
    if (device === 'cuda') native().cudaUpload(t.buffer, this.buffer as Float32Array);
    else native().cudaDownload(this.buffer, t.buffer as Float32Array);
    return record(
      'to',
      [this],
      t,
      (g) => [g.to(from)],
      (ctx) => ctx.node('Identity', [ctx.name(this)], [ctx.output]),
    );
  }

  /** The same storage, cut from the autograd graph. */
  detach(): Tensor {
    this.assertLive('detach');
    this.storage.refs++;
    return new Tensor(this.storage, this.shape);
  }

  /** True when both tensors are views of the same memory. */
  sharesStorageWith(other: Tensor): boolean {
    if (!(other instanceof Tensor)) {
      throw new ArgumentError(
        `Tensor.sharesStorageWith: expected other to be a Tensor but received ${describe(other)}`,
      );
    }
    return this.storage === other.storage;
  }

  /** Frees the storage now (once no other view of it is live). Safe to call twice. */
  dispose(): void {
    if (this.disposedFlag) return;
    this.disposedFlag = true;
    this.gradFn = null;
    this.storage.release();
    // The storage may now serve another tensor: make sure nothing reaches it through this one.
    if (this.device === 'cpu') this.buffer = DISPOSED;
  }

  /** Computes gradients of this tensor with respect to every leaf that requires them. */
  backward(gradOutput?: Tensor, options: { retainGraph?: boolean } = {}): void {
    // The default seed (d this / d this = 1) exists only for a one-element tensor that requires
    // gradients; otherwise runBackward reports what is wrong.
    const seed =
      gradOutput ??
      (this.requiresGrad && this.numel === 1 ? Tensor.ones(this.shape, { device: this.device }) : undefined);
    runBackward(this, seed, options);
  }

  /** Sets requiresGrad on a leaf and returns this (PyTorch's requires_grad_()). */
  requireGrad(flag = true): this {
    if (this.gradFn !== null && !flag) {
      throw new AutogradError('requireGrad(false) is only allowed on leaf tensors; use detach()');
    }
    this.requiresGrad = flag;
    return this;
  }

  toString(): string {
    const values = this.device === 'cpu' && !this.disposedFlag ? this.toArray().slice(0, 8) : [];
    const more = this.numel > 8 ? ', ...' : '';
    return `Tensor(shape=${shapeString(this.shape)}, device=${this.device}${
      values.length ? `, values=[${values.map((v) => v.toPrecision(4)).join(', ')}${more}]` : ''
    })`;
  }

  private assertLive(what: string): void {
    if (this.disposedFlag) throw new ArgumentError(`Tensor.${what}: the tensor has been disposed`);
  }
}

/** Resolves one -1 in `shape` against `numel`. */
export function resolveShape(
  where: string,
  shape: readonly number[],
  numel: number,
  from: readonly number[],
): number[] {
  if (!Array.isArray(shape)) {
    throw new ArgumentError(`${where}: expected shape to be an array of integers but received ${describe(shape)}`);
  }
  let inferAt = -1;
  let known = 1;
  shape.forEach((d, i) => {
    if (d === -1 && inferAt < 0) inferAt = i;
    else {
      checkInt(where, `shape[${i}]`, d, 0);
      known *= d;
    }
  });
  const out = [...shape];
  if (inferAt >= 0) {
    if (known === 0 || numel % known !== 0) {
      throw new ShapeError(
        `${where}: cannot infer -1 in ${shapeString(shape)} for a tensor of shape ${shapeString(from)}`,
      );
    }
    out[inferAt] = numel / known;
  }
  if (numelOf(out) !== numel) {
    throw new ShapeError(
      `${where}: shape ${shapeString(shape)} has ${numelOf(out)} elements but the tensor of shape ${shapeString(from)} has ${numel}`,
    );
  }
  return out;
}

/**
 * @internal x's storage under an already-resolved shape, recorded as a Reshape (gradient: the
 * incoming gradient under x's shape). Tensor.view / reshape and ops.reshape end here.
 */
export function reshapeRecorded(x: Tensor, resolved: readonly number[]): Tensor {
  const out = x.rawView(resolved);
  return record(
    'reshape',
    [x],
    out,
    (g) => [g.rawView(x.shape)],
    (ctx) => {
      ctx.node('Reshape', [ctx.name(x), ctx.reshapeTarget(x.shape, resolved)], [ctx.output]);
    },
  );
}
