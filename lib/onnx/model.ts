/**
 * OnnxModel: an exported (or any) ONNX model run by ONNX Runtime, taking and returning
 * flexconv Tensors.
 *
 *   const m = await OnnxModel.load('model.onnx', { threads: 2 });
 *   const y = await m.runTensor(x);                // one input, one output: a Tensor
 *   const maps = await m.run({ c3, c4, c5 });      // named inputs; several outputs: see run()
 *   await m.release();
 */
import * as fs from 'node:fs';
import { OnnxError, describe } from '../errors';
import { Tensor } from '../tensor';
import { OrtSession } from './ort';

export interface OnnxModelOptions {
  /** Intra-op threads (default 1). */
  threads?: number;
  /** 'cpu' (default) or 'cuda' (needs onnxruntime-node's CUDA binaries; OnnxError otherwise). */
  executionProvider?: 'cpu' | 'cuda';
}

export type OnnxRunResult = Tensor | Tensor[] | Record<string, Tensor>;

export class OnnxModel {
  private constructor(private readonly session: OrtSession) {}

  static async load(source: Uint8Array | string, options: OnnxModelOptions = {}): Promise<OnnxModel> {
    let bytes: Uint8Array;
    if (typeof source === 'string') {
      try {
        bytes = fs.readFileSync(source);
      } catch (e) {
        throw new OnnxError(
          `OnnxModel.load: could not read '${source}': ${e instanceof Error ? e.message : String(e)}`,
        );
      }
    } else if (source instanceof Uint8Array) {
      bytes = source;
    } else {
      throw new OnnxError(
        `OnnxModel.load: expected a Uint8Array of model bytes or a file path but received ${describe(source)}`,
      );
    }
    if (options === null || typeof options !== 'object') {
      throw new OnnxError(`OnnxModel.load: expected options to be an object but received ${describe(options)}`);
    }
    const session = await OrtSession.create(bytes, {
      threads: options.threads ?? 1,
      executionProvider: options.executionProvider ?? 'cpu',
    });
    return new OnnxModel(session);
  }

  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }

  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  /**
   * Runs the model. Inputs: a Tensor (one-input models), an array in input order, or a map by
   * input name. Result: a Tensor for one output, an array when the outputs have exportOnnx's
   * default names output_0, output_1, ..., otherwise a map by output name.
   */
  async run(inputs: Tensor | Tensor[] | Record<string, Tensor>): Promise<OnnxRunResult> {
    const names = this.inputNames;
    let feeds: Record<string, Tensor>;
    if (inputs instanceof Tensor) {
      if (names.length !== 1)
        throw new OnnxError(
          `OnnxModel.run: the model has ${names.length} inputs (${names.join(', ')}); pass an array or a map`,
        );
      feeds = { [names[0]]: inputs };
    } else if (Array.isArray(inputs)) {
      if (inputs.length !== names.length) {
        throw new OnnxError(
          `OnnxModel.run: expected ${names.length} input tensors (${names.join(', ')}) but received ${inputs.length}`,
        );
      }
      feeds = Object.fromEntries(names.map((n, i) => [n, inputs[i]]));
    } else if (inputs !== null && typeof inputs === 'object') {
      feeds = inputs;
    } else {
      throw new OnnxError(
        `OnnxModel.run: expected inputs to be a Tensor, an array or a map of Tensors but received ${describe(inputs)}`,
      );
    }
    const out = await this.session.run(feeds);
    const outNames = this.outputNames;
    if (outNames.length === 1) return out[outNames[0]];
    if (outNames.every((n, i) => n === `output_${i}`)) return outNames.map((n) => out[n]);
    return Object.fromEntries(outNames.map((n) => [n, out[n]]));
  }

  /**
   * Runs a model with exactly one output and returns it as a Tensor (run()'s result typed for the
   * common case); a model with several outputs is an OnnxError naming them.
   */
  async runTensor(inputs: Tensor | Tensor[] | Record<string, Tensor>): Promise<Tensor> {
    if (this.outputNames.length !== 1) {
      throw new OnnxError(
        `OnnxModel.runTensor: the model has ${this.outputNames.length} outputs (${this.outputNames.join(', ')}); use run()`,
      );
    }
    return (await this.run(inputs)) as Tensor;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
