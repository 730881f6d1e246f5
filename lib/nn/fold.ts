/**
 * Inference-time fusion of conv -> batch norm (-> + residual) (-> ReLU), as ONNX Runtime does
 * for an exported model: in eval mode the batch norm is an affine map per channel, so it is
 * folded into the convolution's weight and bias (w' = w * s, b' = (b - mean) * s + beta with
 * s = gamma / sqrt(var + eps), in float64), and the residual add and ReLU run inside the
 * convolution's output pass (ops.conv2dFused). One pass over memory instead of three, and
 * the folded weight is packed for the GEMM once instead of at every call.
 *
 * The folded weights are cached per convolution and rebuilt when the weights generation moves
 * (optimizer steps, loaded state dicts, in-place ops, train/eval switches; lib/weights_generation).
 * Used only when nothing needs gradients or an ONNX trace (evaluate(), noGrad inference); the
 * training path is untouched.
 */
import * as ops from '../ops';
import { keep } from '../scope';
import { Tensor } from '../tensor';
import { weightsGeneration } from '../weights_generation';
import { ReLU } from './activation';
import { Conv2d } from './conv';
import { inferenceReady } from './inference_weights';
import type { Module } from './module';
import { BatchNorm2d } from './normalization';

export interface Folded {
  generation: number;
  bn: BatchNorm2d;
  weight: Tensor;
  bias: Tensor;
  /** The folded weight packed for the GEMM (made on first use, for the conv's op). */
  packed?: ops.PackedConv2dWeight;
}

const cache = new WeakMap<object, Folded>();

/** True when conv -> bn can run folded: eval mode, running statistics, CPU, no gradients or trace wanted. */
export function canFold(conv: Module, bn: BatchNorm2d): boolean {
  if (bn.training || !bn.trackRunningStats || bn.runningMean === null || bn.runningVar === null) return false;
  return inferenceReady(conv);
}

/** The convolution's weight and bias with `bn` folded in (cached; see the file comment). */
export function foldedWeights(conv: Module & { weight: Tensor; bias: Tensor | null }, bn: BatchNorm2d): Folded {
  const hit = cache.get(conv);
  if (hit && hit.generation === weightsGeneration() && hit.bn === bn) return hit;
  if (hit) {
    hit.weight.dispose();
    hit.bias.dispose();
  }
  const O = conv.weight.shape[0];
  const per = conv.weight.numel / O;
  const w = conv.weight.data;
  const mean = (bn.runningMean as Tensor).data;
  const variance = (bn.runningVar as Tensor).data;
  const gamma = bn.weight?.data;
  const beta = bn.bias?.data;
  const b = conv.bias?.data;
  const weight = new Float32Array(conv.weight.numel);
  const bias = new Float32Array(O);
  for (let o = 0; o < O; o++) {
    const s = (gamma ? gamma[o] : 1) / Math.sqrt(variance[o] + bn.eps);
    for (let i = 0; i < per; i++) weight[o * per + i] = w[o * per + i] * s;
    bias[o] = ((b ? b[o] : 0) - mean[o]) * s + (beta ? beta[o] : 0);
  }
  // Kept outside every tidy() scope: the cache owns them until the next rebuild.
  const entry: Folded = {
    generation: weightsGeneration(),
    bn,
    weight: keep(Tensor.from(weight, conv.weight.shape)),
    bias: keep(Tensor.from(bias, [O])),
  };
  cache.set(conv, entry);
  return entry;
}

/** foldedWeights with the folded weight packed for conv2dFused (made on first use, cached with it). */
export function foldedPackedWeights(conv: Conv2d, bn: BatchNorm2d): Folded & { packed: ops.PackedConv2dWeight } {
  const folded = foldedWeights(conv, bn);
  folded.packed ??= ops.packConv2dWeight(folded.weight, conv.groups);
  return folded as Folded & { packed: ops.PackedConv2dWeight };
}

/**
 * A run of modules that nn.Sequential runs as one conv at inference: Conv2d -> BatchNorm2d
 * (-> ReLU) folded (`bn` set), or Conv2d -> ReLU with the ReLU in the conv's output pass.
 */
export interface FusedRun {
  length: 2 | 3;
  bn: BatchNorm2d | null;
  relu: boolean;
}

/**
 * The run starting at `conv` (the next two modules after it, or null), or null when it does not
 * fuse. Only the library's own forwards fuse (Conv2d, BatchNorm2d and ReLU, or subclasses that
 * keep those forwards): a class with a forward of its own is called as written.
 */
export function fusedRun(conv: Module, next: Module | null, after: Module | null): FusedRun | null {
  if (!(conv instanceof Conv2d) || !keepsForwardOf(conv, Conv2d) || typeof conv.padding === 'string') return null;
  const isRelu = (m: Module | null): boolean => m instanceof ReLU && keepsForwardOf(m, ReLU);
  if (next instanceof BatchNorm2d && keepsForwardOf(next, BatchNorm2d)) {
    if (!canFold(conv, next)) return null;
    return isRelu(after) ? { length: 3, bn: next, relu: true } : { length: 2, bn: next, relu: false };
  }
  return isRelu(next) && inferenceReady(conv) ? { length: 2, bn: null, relu: true } : null;
}

/** Whether m's class runs `base`'s forward (an instance's own forward is Module's error-locating wrapper of it). */
function keepsForwardOf(m: Module, base: { prototype: Module }): boolean {
  return (Object.getPrototypeOf(m) as Module).forward === base.prototype.forward;
}

/**
 * relu?(bn(conv(x)) + residual?), folded and fused where canFold allows (plain and deformable
 * convolutions), otherwise exactly the unfused layers.
 */
export function convBnAct(
  conv: Module,
  bn: BatchNorm2d,
  x: Tensor,
  options: { residual?: Tensor | null; relu?: boolean } = {},
): Tensor {
  const relu = options.relu ?? false;
  const residual = options.residual ?? null;
  if (canFold(conv, bn)) {
    if (conv instanceof Conv2d && typeof conv.padding !== 'string') {
      const { weight, bias, packed } = foldedPackedWeights(conv, bn);
      return ops.conv2dFused(x, weight, {
        bias,
        stride: conv.stride,
        padding: conv.padding,
        dilation: conv.dilation,
        groups: conv.groups,
        residual,
        relu,
        packed,
      });
    }
    const deform = conv as Module & {
      forwardWith?: (
        x: Tensor,
        w: Tensor,
        b: Tensor | null,
        packed: ops.PackedConv2dWeight | null,
        epilogue: ops.EpilogueOptions,
      ) => Tensor;
      inChannels?: number;
      weight: Tensor;
      bias: Tensor | null;
    };
    if (typeof deform.forwardWith === 'function') {
      const folded = foldedWeights(deform, bn);
      if (typeof deform.inChannels === 'number' && deform.inChannels % folded.weight.shape[1] === 0)
        folded.packed ??= ops.packDeformConv2dWeight(folded.weight, deform.inChannels / folded.weight.shape[1]);
      return deform.forwardWith(x, folded.weight, folded.bias, folded.packed ?? null, { residual, relu });
    }
  }
  return bn.forwardWithEpilogue(conv.forward(x) as Tensor, { residual, relu });
}
