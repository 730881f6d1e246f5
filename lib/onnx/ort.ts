/**
 * Running ONNX models with ONNX Runtime (onnxruntime-node), taking and returning flexconv
 * Tensors. Used by tests (ORT as an independent oracle) and benchmarks (ORT as the anchor).
 *
 *   const out = await runOnnx(builder.toBytes(), { x }, { threads: 1 });   // one-shot
 *
 *   const session = await OrtSession.create(bytes, { threads: 2 });         // repeated runs
 *   const feeds = session.feeds({ x });          // convert once, outside the timed region
 *   await session.runRaw(feeds);                 // time only ONNX Runtime's run()
 *   session.release();
 *
 * Sessions run sequentially with exactly `threads` intra-op threads (and one inter-op thread),
 * so comparisons with flexconv at the same thread count are fair.
 */
// The API's types come from onnxruntime-common (a dependency, pure JS); the runtime itself,
// onnxruntime-node, is an optional peer dependency loaded on first use, so installing flexconv
// never runs ONNX Runtime's install script (which downloads CUDA files from outside npm).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as OrtTypes from 'onnxruntime-common';
import { OnnxError, describe } from '../errors';
import { Tensor } from '../tensor';

type Ort = typeof OrtTypes;
let ortModule: Ort | null = null;

/** The command that installs ONNX Runtime for Node without its download from outside npm. */
export const ORT_INSTALL_HINT = 'ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node@1.30.0';

/** Loads onnxruntime-node on first use so that importing flexconv does not pay for it. */
function ort(): Ort {
  if (ortModule === null) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- an optional peer dependency
      ortModule = require('onnxruntime-node') as Ort;
    } catch (e) {
      const missing = (e as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND';
      throw new OnnxError(
        missing
          ? `running ONNX models needs onnxruntime-node, an optional peer dependency that is not installed: ${ORT_INSTALL_HINT}`
          : `onnxruntime-node could not be loaded: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
  }
  return ortModule;
}

export interface OrtRunOptions {
  /** Intra-op threads (default 1, deterministic and comparable with flexconv's thread count). */
  threads?: number;
  /** ONNX Runtime graph optimisation level (default 'all'). */
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  /**
   * Let ORT's idle intra-op threads spin (ORT's default, true). Benchmarks that interleave
   * ORT with flexconv turn it off: spinning threads would steal the cores from flexconv's run.
   */
  allowSpinning?: boolean;
  /** Execution provider (default 'cpu'); 'cuda' needs an onnxruntime-node install with CUDA. */
  executionProvider?: 'cpu' | 'cuda';
}

/**
 * Whether onnxruntime-node lists the CUDA provider and its shared library was installed next
 * to the binding (onnxruntime-node downloads it at install time; this repo's .npmrc skips that).
 */
function cudaProviderInstalled(): boolean {
  const backends =
    (ort() as unknown as { listSupportedBackends?: () => { name: string }[] }).listSupportedBackends?.() ?? [];
  if (!backends.some((b) => b.name === 'cuda')) return false;
  try {
    const bin = path.join(path.dirname(require.resolve('onnxruntime-node/package.json')), 'bin');
    return fs.readdirSync(bin).some((napi) => {
      const dir = path.join(bin, napi, process.platform, process.arch);
      return fs.existsSync(dir) && fs.readdirSync(dir).some((f) => f.startsWith('libonnxruntime_providers_cuda'));
    });
  } catch {
    return false;
  }
}

export type OrtFeeds = Record<string, OrtTypes.Tensor>;

function toOrtTensor(name: string, t: Tensor): OrtTypes.Tensor {
  if (!(t instanceof Tensor))
    throw new OnnxError(`runOnnx: expected feed '${name}' to be a Tensor but received ${describe(t)}`);
  if (t.device !== 'cpu') throw new OnnxError(`runOnnx: feed '${name}' is on ${t.device}; move it to the CPU first`);
  // A view made with this realm's Float32Array over the same memory (zero-copy): the addon's
  // arrays may come from another realm (jest's sandbox), which fails ORT's instanceof check.
  const d = t.data;
  return new (ort().Tensor)('float32', new Float32Array(d.buffer, d.byteOffset, d.length), [...t.shape]);
}

/** Copies an ORT output into a new flexconv Tensor (integer and boolean outputs are converted to float). */
function fromOrtTensor(name: string, t: OrtTypes.Tensor): Tensor {
  const dims = [...t.dims].map(Number);
  const data = t.data;
  if (t.type === 'float32') return Tensor.from(data as Float32Array, dims);
  if (ArrayBuffer.isView(data)) {
    const values = Array.from(data as unknown as ArrayLike<number | bigint>, (v) => Number(v));
    return Tensor.from(values, dims);
  }
  throw new OnnxError(`runOnnx: output '${name}' has type ${t.type}, which cannot be converted to a float tensor`);
}

export class OrtSession {
  private constructor(private session: OrtTypes.InferenceSession | null) {}

  static async create(bytes: Uint8Array, options: OrtRunOptions = {}): Promise<OrtSession> {
    if (!(bytes instanceof Uint8Array)) {
      throw new OnnxError(`OrtSession.create: expected bytes to be a Uint8Array but received ${describe(bytes)}`);
    }
    const threads = options.threads ?? 1;
    if (!Number.isInteger(threads) || threads < 1) {
      throw new OnnxError(
        `OrtSession.create: expected threads to be a positive integer but received ${describe(threads)}`,
      );
    }
    const provider = options.executionProvider ?? 'cpu';
    if (provider !== 'cpu' && provider !== 'cuda') {
      throw new OnnxError(
        `OrtSession.create: expected executionProvider to be 'cpu' or 'cuda' but received ${describe(provider)}`,
      );
    }
    if (provider === 'cuda') {
      if (!cudaProviderInstalled()) {
        throw new OnnxError(
          'OrtSession.create: the CUDA execution provider is not available in this onnxruntime-node install; ' +
            "install onnxruntime-node with its CUDA binaries (npm's default download, not skipped by .npmrc) or use executionProvider 'cpu'",
        );
      }
    }
    try {
      const session = await ort().InferenceSession.create(
        Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
        {
          intraOpNumThreads: threads,
          interOpNumThreads: 1,
          executionMode: 'sequential',
          graphOptimizationLevel: options.graphOptimizationLevel ?? 'all',
          logSeverityLevel: 3,
          executionProviders: [options.executionProvider ?? 'cpu'],
          ...(options.allowSpinning === false ? { extra: { session: { intra_op: { allow_spinning: '0' } } } } : {}),
        },
      );
      return new OrtSession(session);
    } catch (e) {
      throw new OnnxError(`ONNX Runtime rejected the model: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  get inputNames(): readonly string[] {
    return this.live().inputNames;
  }

  get outputNames(): readonly string[] {
    return this.live().outputNames;
  }

  /** Wraps flexconv Tensors as ORT tensors (zero-copy over the same memory). */
  feeds(inputs: Record<string, Tensor>): OrtFeeds {
    if (inputs === null || typeof inputs !== 'object') {
      throw new OnnxError(`runOnnx: expected feeds to be an object of Tensors but received ${describe(inputs)}`);
    }
    const session = this.live();
    for (const name of session.inputNames) {
      if (!(name in inputs))
        throw new OnnxError(
          `runOnnx: missing feed '${name}' (the model's inputs are ${session.inputNames.join(', ')})`,
        );
    }
    const out: OrtFeeds = {};
    for (const [name, t] of Object.entries(inputs)) {
      if (!session.inputNames.includes(name)) {
        throw new OnnxError(
          `runOnnx: the model has no input '${name}' (its inputs are ${session.inputNames.join(', ')})`,
        );
      }
      out[name] = toOrtTensor(name, t);
    }
    return out;
  }

  /** One ONNX Runtime run on prepared feeds; returns ORT's own outputs (for timing). */
  async runRaw(feeds: OrtFeeds): Promise<OrtTypes.InferenceSession.OnnxValueMapType> {
    try {
      return await this.live().run(feeds);
    } catch (e) {
      throw new OnnxError(`ONNX Runtime run failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  /** Runs the model and returns every output as a new flexconv Tensor. */
  async run(inputs: Record<string, Tensor>): Promise<Record<string, Tensor>> {
    const results = await this.runRaw(this.feeds(inputs));
    const out: Record<string, Tensor> = {};
    for (const [name, value] of Object.entries(results)) {
      out[name] = fromOrtTensor(name, value as OrtTypes.Tensor);
      (value as OrtTypes.Tensor).dispose?.();
    }
    return out;
  }

  /** Frees the native session. Safe to call twice. */
  async release(): Promise<void> {
    const s = this.session;
    this.session = null;
    if (s) await s.release();
  }

  private live(): OrtTypes.InferenceSession {
    if (this.session === null) throw new OnnxError('OrtSession: the session has been released');
    return this.session;
  }
}

/** Builds a session, runs it once on `feeds`, releases it, and returns the outputs as Tensors. */
export async function runOnnx(
  bytes: Uint8Array,
  feeds: Record<string, Tensor>,
  options: OrtRunOptions = {},
): Promise<Record<string, Tensor>> {
  const session = await OrtSession.create(bytes, options);
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}
