/**
 * Data-parallel training: every rank holds the same model, trains on its own slice of each
 * batch, and before the optimizer step the gradients are averaged over the ranks, so every
 * rank takes the same step (PyTorch's DistributedDataParallel, on MPI).
 *
 *   distributed.init();
 *   const model = new distributed.DistributedDataParallel(resnet18({ ... }));
 *   // ... the usual loop, or train.fit(model, ...): forward, loss.backward(), optimizer.step()
 *
 * - At construction rank 0's parameters and buffers are copied to every rank, after checking
 *   that every rank built the same parameter names and shapes (else a DistributedError on
 *   every rank, not a silent wrong sum).
 * - Gradients are summed in buckets of about `bucketCapMb` (parameters in reverse order, the
 *   order backward finishes them). A bucket's all-reduce starts on MPI's thread as soon as
 *   its last gradient is final, while backward computes the earlier layers; when backward
 *   ends, the remaining buckets are sent, all are awaited, and every parameter's .grad holds
 *   the mean over the ranks. Buckets are always started in the same order on every rank.
 * - One backward per optimizer step; for gradient accumulation wrap the extra passes in
 *   noSync(() => ...), which keeps their gradients local until a synchronised backward.
 * - Batch norm keeps per-process statistics (PyTorch's default); SyncBatchNorm.convert(model)
 *   makes them the global batch's (./sync_batch_norm.ts).
 */
import { addBackwardHooks } from '../autograd';
import { ArgumentError, DistributedError, describe } from '../errors';
import { Module } from '../nn/module';
import { copy_ } from '../ops/elementwise';
import { keep } from '../scope';
import { Tensor } from '../tensor';
import { engineForReducer } from './process_group';

export interface DistributedDataParallelOptions {
  /** Target bucket size in megabytes (default 25, as PyTorch). */
  bucketCapMb?: number;
}

interface Bucket {
  params: Tensor[];
  /** Offset of each parameter's gradient in `buffer`. */
  offsets: number[];
  buffer: Float32Array;
  ready: number;
  /** The all-reduce id once started. */
  started: number | null;
}

/** A 32-bit FNV-1a hash of a string (to compare model layouts across ranks). */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/**
 * The wrapper is itself a Module whose one child is `module` (state-dict keys 'module.*', as
 * PyTorch's), so train.fit, checkpoints and evaluate take it as they take any model.
 */
export class DistributedDataParallel extends Module {
  readonly module: Module;
  private readonly buckets: Bucket[] = [];
  private readonly bucketOf = new Map<Tensor, Bucket>();
  private readonly size: number;
  private readonly engine: ReturnType<typeof engineForReducer>['engine'];
  private syncing = true;
  private active = false;
  private nextToStart = 0;
  private readonly removeHooks: () => void;

  constructor(module: Module, options: DistributedDataParallelOptions = {}) {
    super();
    const where = 'DistributedDataParallel';
    if (
      !module ||
      typeof (module as Module).forward !== 'function' ||
      typeof (module as Module).parameters !== 'function'
    ) {
      throw new ArgumentError(`${where}: expected module to be a Module but received ${describe(module)}`);
    }
    const capMb = options.bucketCapMb ?? 25;
    if (typeof capMb !== 'number' || !(capMb > 0))
      throw new ArgumentError(`${where}: expected bucketCapMb to be a positive number but received ${describe(capMb)}`);
    const { engine, size } = engineForReducer(where);
    this.module = module;
    this.engine = engine;
    this.size = size;
    this.checkSameLayout(where);
    this.broadcastState();
    this.makeBuckets(capMb);
    this.removeHooks = addBackwardHooks({
      onLeafReady: (leaf) => this.onLeafReady(leaf),
      onBackwardEnd: () => this.onBackwardEnd(),
    });
  }

  /** The wrapped module's forward (its gradients are averaged over the ranks in the next backward). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the wrapped module's inputs and outputs
  forward(...inputs: any[]): any {
    this.active = this.syncing;
    return (this.module.forward as (...a: unknown[]) => unknown)(...inputs);
  }

  /** Runs `fn` (forward and backward passes) without summing gradients across ranks. */
  noSync<T>(fn: () => T): T {
    const was = this.syncing;
    this.syncing = false;
    try {
      return fn();
    } finally {
      this.syncing = was;
    }
  }

  /** Stops observing backward passes (the module keeps training alone afterwards). */
  detach(): void {
    this.removeHooks();
  }

  private checkSameLayout(where: string): void {
    const layout = Array.from(this.module.namedParameters())
      .map(([name, p]) => `${name}:${p.shape.join('x')}`)
      .join(';');
    const h = fnv1a(layout);
    const count = this.module.numParameters();
    // Halves of the hash and the parameter count as floats (exact below 2^24): max == min on
    // every rank means every rank built the same model.
    const probe = Float32Array.of(h >>> 16, h & 0xffff, count % 2 ** 24, Math.floor(count / 2 ** 24));
    const hi = Float32Array.from(probe);
    const lo = Float32Array.from(probe);
    this.engine.allreduce(hi, 'max');
    this.engine.allreduce(lo, 'min');
    if (hi.some((v, i) => v !== lo[i])) {
      throw new DistributedError(
        `${where}: the ranks built different models (parameter names and shapes differ; this rank has ${count.toLocaleString('en-US')} parameters). Every rank must construct the same model.`,
      );
    }
  }

  /** Rank 0's parameters and buffers, copied to every rank in one message. */
  private broadcastState(): void {
    const tensors = [...this.module.parameters(), ...Array.from(this.module.namedBuffers(), ([, b]) => b)];
    const total = tensors.reduce((n, t) => n + t.numel, 0);
    const flat = new Float32Array(total);
    let at = 0;
    for (const t of tensors) {
      flat.set(t.device === 'cpu' ? t.data : Float32Array.from(t.toArray()), at);
      at += t.numel;
    }
    this.engine.broadcast(flat, 0);
    at = 0;
    for (const t of tensors) {
      const part = flat.subarray(at, at + t.numel);
      if (t.device === 'cpu') t.data.set(part);
      else {
        copy_(t, Tensor.from(Float32Array.from(part), t.shape).to(t.device));
      }
      at += t.numel;
    }
  }

  private makeBuckets(capMb: number): void {
    const cap = Math.max(1, Math.floor((capMb * 2 ** 20) / 4));
    const params = this.module
      .parameters()
      .filter((p) => p.requiresGrad)
      .reverse();
    let current: Tensor[] = [];
    let floats = 0;
    const flush = (): void => {
      if (!current.length) return;
      const offsets: number[] = [];
      let at = 0;
      for (const p of current) {
        offsets.push(at);
        at += p.numel;
      }
      const bucket: Bucket = { params: current, offsets, buffer: new Float32Array(at), ready: 0, started: null };
      for (const p of current) this.bucketOf.set(p, bucket);
      this.buckets.push(bucket);
      current = [];
      floats = 0;
    };
    for (const p of params) {
      if (floats > 0 && floats + p.numel > cap) flush();
      current.push(p);
      floats += p.numel;
    }
    flush();
  }

  private onLeafReady(leaf: Tensor): void {
    if (!this.active) return;
    const bucket = this.bucketOf.get(leaf);
    if (!bucket) return;
    bucket.ready++;
    if (bucket.ready === bucket.params.length) this.startReadyBuckets(false);
  }

  /** Starts buckets in order while the next one is complete (or all of them, when forced). */
  private startReadyBuckets(force: boolean): void {
    while (this.nextToStart < this.buckets.length) {
      const b = this.buckets[this.nextToStart];
      if (!force && b.ready < b.params.length) return;
      b.params.forEach((p, i) => {
        const g = p.grad;
        if (g) b.buffer.set(g.device === 'cpu' ? g.data : Float32Array.from(g.toArray()), b.offsets[i]);
        else b.buffer.fill(0, b.offsets[i], b.offsets[i] + p.numel); // no gradient here: contributes 0
      });
      // The mean, not the sum: scaled on MPI's thread as each bucket's reduction ends.
      b.started = this.engine.allreduceStart(b.buffer, 1 / this.size);
      this.nextToStart++;
    }
  }

  private onBackwardEnd(): void {
    if (!this.active) return;
    this.active = false;
    try {
      this.startReadyBuckets(true);
      for (const b of this.buckets) {
        this.engine.wait(b.started as number);
        b.params.forEach((p, i) => {
          const mean = b.buffer.subarray(b.offsets[i], b.offsets[i] + p.numel);
          if (p.grad && p.grad.device === 'cpu') p.grad.data.set(mean);
          else p.grad = keep(Tensor.from(Float32Array.from(mean), p.shape).to(p.device));
        });
      }
    } finally {
      for (const b of this.buckets) {
        b.ready = 0;
        b.started = null;
      }
      this.nextToStart = 0;
    }
  }
}
