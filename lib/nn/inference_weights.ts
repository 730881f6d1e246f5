/**
 * Conv weights packed once for inference (ops.packConv2dWeight) and cached per layer.
 *
 * A layer that runs many forwards with the same weights (eval mode, nothing wanting gradients)
 * would otherwise rearrange and pack its weight for the GEMM at every call. At batch 1 that
 * costs as much as the multiplication: the offset predictor of a deformable ResNet-34's
 * 512-channel layer (27 outputs, 4x4 map) took 257 us per call packing its 0.5 MB weight and
 * 80 us with it packed. Conv2d in eval mode uses this; lib/nn/fold.ts packs its folded weights
 * the same way.
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
  packed: ops.PackedConv2dWeight;
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

/** The layer's own conv weight packed for conv2dFused (cached; see the file comment). */
export function packedOwnWeight(layer: object, weight: Tensor, groups: number): ops.PackedConv2dWeight {
  const hit = cache.get(layer);
  if (hit && hit.generation === weightsGeneration() && hit.weight === weight) return hit.packed;
  const packed = ops.packConv2dWeight(weight, groups);
  cache.set(layer, { generation: weightsGeneration(), weight, packed });
  return packed;
}
