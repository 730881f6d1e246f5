/**
 * Conv and linear weights packed once for inference (ops.packConv2dWeight, ops.packLinearWeight)
 * and cached per layer.
 *
 * A layer that runs many forwards with the same weights (eval mode, nothing wanting gradients)
 * would otherwise rearrange and pack its weight for the GEMM at every call. At batch 1 that
 * costs as much as the multiplication: the offset predictor of a deformable ResNet-34's
 * 512-channel layer (27 outputs, 4x4 map) took 257 us per call packing its 0.5 MB weight and
 * 80 us with it packed. Conv2d in eval mode uses this; lib/nn/fold.ts packs its folded weights
 * the same way. Linear in eval mode keeps its packed weight here too (a 512 x 1000 classifier's
 * weight is transposed into the GEMM's panels otherwise: 2 MB rearranged per call).
 *
 * A cached entry is rebuilt when the weights generation moves (optimizer steps, loaded state
 * dicts, in-place ops, train/eval switches: lib/weights_generation) or the layer's weight
 * tensor was replaced.
 */
import { isGradEnabled } from '../autograd';
import { activeTracer } from '../onnx/trace';
import * as ops from '../ops';
import { Tensor } from '../tensor';
import { weightsGeneration } from '../weights_generation';

interface Entry {
  generation: number;
  weight: Tensor;
  packed: ops.PackedConv2dWeight | ops.PackedLinearWeight;
}

const cache = new WeakMap<object, Entry>();

/**
 * True when a layer's forward may run on weights prepared once for many calls: eval mode, its
 * weight on the CPU, and nothing recording gradients or an ONNX trace.
 */
export function inferenceReady(layer: { training: boolean; weight?: unknown }): boolean {
  if (layer.training || activeTracer() !== null || isGradEnabled()) return false;
  return layer.weight instanceof Tensor && layer.weight.device === 'cpu' && !layer.weight.isDisposed;
}

function cached<T extends Entry['packed']>(layer: object, weight: Tensor, pack: () => T): T {
  const hit = cache.get(layer);
  if (hit && hit.generation === weightsGeneration() && hit.weight === weight) return hit.packed as T;
  const packed = pack();
  cache.set(layer, { generation: weightsGeneration(), weight, packed });
  return packed;
}

/** The layer's own conv weight packed for conv2dFused (cached; see the file comment). */
export function packedOwnWeight(layer: object, weight: Tensor, groups: number): ops.PackedConv2dWeight {
  return cached(layer, weight, () => ops.packConv2dWeight(weight, groups));
}

/** The layer's own linear weight packed for linear (cached; see the file comment). */
export function packedOwnLinearWeight(layer: object, weight: Tensor): ops.PackedLinearWeight {
  return cached(layer, weight, () => ops.packLinearWeight(weight));
}
