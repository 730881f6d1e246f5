/**
 * Fully connected layer: y = input @ weight^T + bias, weight [out, in] (PyTorch layout),
 * input [..., in] (any number of leading dimensions). Runs on the GEMM core; up to 8 rows by
 * dot products of input rows with weight rows (native/cpu/gemm/few_rows.h). A weight packed once
 * by packLinearWeight (nn.Linear does this in eval mode) is read in place instead of being
 * rearranged for the GEMM at every call.
 */
import { record } from '../autograd';
import { checkOptionKeys, shapeString } from '../check';
import { ArgumentError, DeviceError, describe, ShapeError } from '../errors';
import { native } from '../native';
import { Tensor } from '../tensor';
import type { OnnxEmitContext } from '../onnx/trace';
import { channelSums } from './conv';
import { gemmInto } from './matmul';
import { checkTensor } from './validate';

/** A CPU linear weight packed once for many forwards (packLinearWeight); holds its own copy. */
export class PackedLinearWeight {
  /** @internal the native handle (freed with this object). */
  constructor(
    readonly handle: object,
    /** [outFeatures, inFeatures] of the weight it was packed from. */
    readonly shape: readonly number[],
  ) {}

  /** Bytes of packed floats the handle holds. */
  get bytes(): number {
    return native().linearPackedInfo(this.handle).bytes;
  }
}

/**
 * Packs a CPU linear weight ([out, in]) for linear's `packed` option. The handle keeps a copy:
 * pack again after the weight changes (nn.Linear's eval cache does, lib/nn/inference_weights.ts).
 */
export function packLinearWeight(weight: Tensor): PackedLinearWeight {
  const where = 'packLinearWeight';
  checkTensor(where, 'weight', weight);
  if (weight.ndim !== 2) {
    throw new ShapeError(
      `${where}: expected weight to be a 2-D tensor [outFeatures, inFeatures] but received shape ${shapeString(weight.shape)}`,
    );
  }
  if (weight.device !== 'cpu')
    throw new DeviceError(`${where}: expected weight on the CPU but received a ${weight.device} tensor`);
  return new PackedLinearWeight(native().linearPackWeight(weight), [...weight.shape]);
}

export interface LinearOptions {
  /** The weight packed by packLinearWeight (CPU only); must match `weight`'s shape. */
  packed?: PackedLinearWeight | null;
}

export function linear(input: Tensor, weight: Tensor, bias?: Tensor | null, options: LinearOptions = {}): Tensor {
  const where = 'linear';
  for (const [name, t] of [
    ['input', input],
    ['weight', weight],
  ] as const) {
    if (!(t instanceof Tensor))
      throw new ArgumentError(`${where}: expected ${name} to be a Tensor but received ${describe(t)}`);
  }
  if (weight.ndim !== 2) {
    throw new ShapeError(
      `${where}: expected weight to be a 2-D tensor [outFeatures, inFeatures] but received shape ${shapeString(weight.shape)}`,
    );
  }
  if (input.ndim < 1)
    throw new ShapeError(`${where}: expected input to have at least 1 dimension but received shape []`);
  const [outF, inF] = weight.shape;
  const last = input.shape[input.ndim - 1];
  if (last !== inF) {
    throw new ShapeError(
      `${where}: expected input with ${inF} features in its last dimension (weight ${shapeString(weight.shape)}) but received ${last} (input shape ${shapeString(input.shape)})`,
    );
  }
  if (weight.device !== input.device)
    throw new DeviceError(`${where}: input is on ${input.device} but weight is on ${weight.device}`);
  let b: Tensor | null = null;
  if (bias !== undefined && bias !== null) {
    if (!(bias instanceof Tensor))
      throw new ArgumentError(`${where}: expected bias to be a Tensor or null but received ${describe(bias)}`);
    if (bias.ndim !== 1 || bias.shape[0] !== outF) {
      throw new ShapeError(`${where}: expected bias of shape [${outF}] but received ${shapeString(bias.shape)}`);
    }
    if (bias.device !== input.device)
      throw new DeviceError(`${where}: input is on ${input.device} but bias is on ${bias.device}`);
    b = bias;
  }
  checkOptionKeys(where, options, ['packed']);
  const packed = checkPacked(where, options.packed, weight);
  const rows = input.shape.slice(0, -1).reduce((a, b) => a * b, 1);
  const outShape = [...input.shape.slice(0, -1), outF];
  const out = Tensor.empty(outShape, { device: input.device });
  if (packed) {
    const x2 = input.rawView([rows, inF]),
      o2 = out.rawView([rows, outF]);
    native().linearPacked(x2, packed.handle, b, o2);
    x2.dispose();
    o2.dispose();
  } else {
    const x3 = input.rawView([1, rows, inF]),
      w3 = weight.rawView([1, outF, inF]),
      o3 = out.rawView([1, rows, outF]);
    gemmInto(x3, w3, o3, false, true);
    if (b) {
      const o2 = out.rawView([rows, outF]);
      native().addChannelBias(o2, b);
      o2.dispose();
    }
    x3.dispose();
    w3.dispose();
    o3.dispose();
  }
  return record(
    'linear',
    [input, weight, b],
    out,
    (g) => {
      const g3 = g.rawView([1, rows, outF]);
      let gx: Tensor | null = null,
        gw: Tensor | null = null,
        gb: Tensor | null = null;
      if (input.requiresGrad) {
        gx = Tensor.empty(input.shape, { device: g.device });
        const gx3 = gx.rawView([1, rows, inF]),
          w = weight.rawView([1, outF, inF]);
        gemmInto(g3, w, gx3, false, false);
        gx3.dispose();
        w.dispose();
      }
      if (weight.requiresGrad) {
        gw = Tensor.empty(weight.shape, { device: g.device });
        const gw3 = gw.rawView([1, outF, inF]),
          x = input.rawView([1, rows, inF]);
        gemmInto(g3, x, gw3, true, false);
        gw3.dispose();
        x.dispose();
      }
      if (b?.requiresGrad) {
        const g2 = g.rawView([rows, outF]);
        gb = channelSums(g2);
        g2.dispose();
      }
      g3.dispose();
      return [gx, gw, gb];
    },
    (ctx: OnnxEmitContext) => {
      if (input.ndim === 2) {
        ctx.node('Gemm', [ctx.name(input), ctx.name(weight), ...(b ? [ctx.name(b)] : [])], [ctx.output], { transB: 1 });
        return;
      }
      // Any number of leading dimensions: MatMul with the transposed weight, then the bias.
      const [wt] = ctx.node('Transpose', [ctx.name(weight)], undefined, { perm: [1, 0] });
      if (!b) {
        ctx.node('MatMul', [ctx.name(input), wt], [ctx.output]);
        return;
      }
      const [mm] = ctx.node('MatMul', [ctx.name(input), wt]);
      ctx.node('Add', [mm, ctx.name(b)], [ctx.output]);
    },
  );
}

function checkPacked(where: string, packed: unknown, weight: Tensor): PackedLinearWeight | null {
  if (packed === undefined || packed === null) return null;
  if (!(packed instanceof PackedLinearWeight)) {
    throw new ArgumentError(
      `${where}: expected packed to be a PackedLinearWeight from packLinearWeight but received ${describe(packed)}`,
    );
  }
  if (packed.shape[0] !== weight.shape[0] || packed.shape[1] !== weight.shape[1]) {
    throw new ShapeError(
      `${where}: expected packed to be packLinearWeight of a weight ${shapeString(weight.shape)} but received one of ${shapeString(packed.shape)}`,
    );
  }
  if (weight.device !== 'cpu')
    throw new DeviceError(`${where}: packed weights run on the CPU only but weight is a ${weight.device} tensor`);
  return packed;
}
