/**
 * SyncBatchNorm: batch normalisation whose training statistics are those of the global batch
 * (every rank's slice together), as PyTorch's nn.SyncBatchNorm. Forward sums each channel's
 * values and squares over the ranks (one all-reduce); backward sums each channel's dy and
 * dy * x-hat over the ranks (another), so a data-parallel job computes what one process would
 * on the whole batch. Eval mode, and a job of one process, are plain BatchNorm2d.
 *
 *   const model = distributed.SyncBatchNorm.convert(resnet18({ ... }));   // every BatchNorm2d replaced
 *
 * CPU tensors only for now (the reductions run in JavaScript, in float64).
 */
import { record } from '../autograd';
import { DeviceError, ShapeError } from '../errors';
import { checkInputChannels } from '../nn/conv';
import type { Module } from '../nn/module';
import { BatchNorm2d, type BatchNorm2dOptions } from '../nn/normalization';
import { Tensor } from '../tensor';
import { engineForReducer, isInitialized, worldSize } from './process_group';

/** Sums `values` over every rank in place (float32 on the wire); a single process keeps them. */
function sumOverRanks(values: Float64Array): Float64Array {
  if (!isInitialized() || worldSize() === 1) return values;
  const { engine } = engineForReducer('SyncBatchNorm');
  const wire = Float32Array.from(values);
  engine.allreduce(wire, 'sum');
  return Float64Array.from(wire);
}

export class SyncBatchNorm extends BatchNorm2d {
  constructor(numFeatures: number, options: BatchNorm2dOptions = {}) {
    super(numFeatures, options);
  }

  override forward(x: Tensor): Tensor {
    if (!this.training) return super.forward(x);
    checkInputChannels('SyncBatchNorm', x, this.numFeatures);
    if (x.device !== 'cpu')
      throw new DeviceError(
        `SyncBatchNorm: expected a CPU tensor but received a ${x.device} tensor (the CUDA path is not built)`,
      );
    if (x.ndim !== 4)
      throw new ShapeError(`SyncBatchNorm: expected input [N, C, H, W] but received ${x.ndim} dimensions`);
    const [N, C, H, W] = x.shape;
    const plane = H * W;
    const xs = x.data;
    // [sum x per channel | sum x^2 per channel | count]
    const local = new Float64Array(2 * C + 1);
    for (let n = 0; n < N; n++)
      for (let c = 0; c < C; c++) {
        const base = (n * C + c) * plane;
        let s = 0;
        let s2 = 0;
        for (let p = 0; p < plane; p++) {
          const v = xs[base + p];
          s += v;
          s2 += v * v;
        }
        local[c] += s;
        local[C + c] += s2;
      }
    local[2 * C] = N * plane;
    const global = sumOverRanks(local);
    const count = global[2 * C];
    if (count <= 1)
      throw new ShapeError(
        `SyncBatchNorm: expected more than 1 value per channel over all ranks when training but received ${count}`,
      );
    const mean = new Float64Array(C);
    const invstd = new Float64Array(C);
    const variance = new Float64Array(C);
    for (let c = 0; c < C; c++) {
      mean[c] = global[c] / count;
      variance[c] = Math.max(0, global[C + c] / count - mean[c] * mean[c]);
      invstd[c] = 1 / Math.sqrt(variance[c] + this.eps);
    }
    this.updateRunningStats(mean, variance, count);
    const gamma = this.weight?.data;
    const beta = this.bias?.data;
    const y = Tensor.empty(x.shape);
    const ys = y.data;
    for (let n = 0; n < N; n++)
      for (let c = 0; c < C; c++) {
        const base = (n * C + c) * plane;
        const a = invstd[c] * (gamma ? gamma[c] : 1);
        const b = (beta ? beta[c] : 0) - mean[c] * a;
        for (let p = 0; p < plane; p++) ys[base + p] = xs[base + p] * a + b;
      }
    return record('syncBatchNorm', [x, this.weight, this.bias], y, (g) => this.backward(g, x, mean, invstd, count));
  }

  private updateRunningStats(mean: Float64Array, variance: Float64Array, count: number): void {
    if (!this.trackRunningStats) return;
    const tracked = this.buffer('num_batches_tracked') as Tensor;
    const batches = tracked.data[0] + 1;
    tracked.data[0] = batches;
    const m = this.momentum ?? 1 / batches;
    const rm = (this.runningMean as Tensor).data;
    const rv = (this.runningVar as Tensor).data;
    for (let c = 0; c < mean.length; c++) {
      rm[c] = (1 - m) * rm[c] + m * mean[c];
      rv[c] = (1 - m) * rv[c] + m * variance[c] * (count / (count - 1));
    }
  }

  /** dx = gamma * invstd * (dy - sum(dy) / M - x-hat * sum(dy * x-hat) / M), sums over every rank's M values. */
  private backward(g: Tensor, x: Tensor, mean: Float64Array, invstd: Float64Array, count: number): (Tensor | null)[] {
    const [N, C, H, W] = x.shape;
    const plane = H * W;
    const xs = x.data;
    const gs = g.device === 'cpu' ? g.data : Float32Array.from(g.toArray());
    const local = new Float64Array(2 * C); // [sum dy | sum dy * x-hat]
    for (let n = 0; n < N; n++)
      for (let c = 0; c < C; c++) {
        const base = (n * C + c) * plane;
        let a = 0;
        let b = 0;
        for (let p = 0; p < plane; p++) {
          const dy = gs[base + p];
          a += dy;
          b += dy * (xs[base + p] - mean[c]) * invstd[c];
        }
        local[c] += a;
        local[C + c] += b;
      }
    const global = sumOverRanks(Float64Array.from(local));
    const gamma = this.weight?.data;
    const dx = Tensor.empty(x.shape);
    const d = dx.data;
    for (let n = 0; n < N; n++)
      for (let c = 0; c < C; c++) {
        const base = (n * C + c) * plane;
        const k = (gamma ? gamma[c] : 1) * invstd[c];
        const meanDy = global[c] / count;
        const meanDyXhat = global[C + c] / count;
        for (let p = 0; p < plane; p++) {
          const xhat = (xs[base + p] - mean[c]) * invstd[c];
          d[base + p] = k * (gs[base + p] - meanDy - xhat * meanDyXhat);
        }
      }
    const dgamma = this.weight ? Tensor.from(Float32Array.from(local.subarray(C, 2 * C)), [C]) : null;
    const dbeta = this.bias ? Tensor.from(Float32Array.from(local.subarray(0, C)), [C]) : null;
    return [x.requiresGrad ? dx : null, dgamma, dbeta];
  }

  /**
   * `module` with every BatchNorm2d replaced by a SyncBatchNorm holding the same options,
   * parameters and running statistics (PyTorch's convert_sync_batchnorm). Returns `module`.
   */
  static convert<M extends Module>(module: M): M {
    for (const m of [...module.modules()]) {
      const slots = m as unknown as Record<string, unknown>;
      for (const key of Object.keys(slots)) {
        const value = slots[key];
        if (value instanceof BatchNorm2d && !(value instanceof SyncBatchNorm)) slots[key] = SyncBatchNorm.from(value);
        else if (Array.isArray(value))
          value.forEach((v, i) => {
            if (v instanceof BatchNorm2d && !(v instanceof SyncBatchNorm)) value[i] = SyncBatchNorm.from(v);
          });
      }
    }
    return module;
  }

  private static from(bn: BatchNorm2d): SyncBatchNorm {
    const s = new SyncBatchNorm(bn.numFeatures, {
      eps: bn.eps,
      momentum: bn.momentum,
      affine: bn.affine,
      trackRunningStats: bn.trackRunningStats,
    });
    s.loadStateDict(bn.stateDict());
    s.train(bn.training);
    return s;
  }
}
