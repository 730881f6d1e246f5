/**
 * BatchNorm2d (torch.nn.BatchNorm2d): weight 1, bias 0, buffers running_mean (0),
 * running_var (1) and num_batches_tracked, with PyTorch's keys. In training mode it
 * normalises with batch statistics and updates the running ones (momentum, or a cumulative
 * average when momentum is null); in eval mode it uses the running statistics.
 */
import { checkInt, expectOptionsObject } from '../check';
import { ArgumentError, describe } from '../errors';
import { native } from '../native';
import * as ops from '../ops';
import { applyEpilogue } from '../ops/epilogue';
import { Tensor } from '../tensor';
import { checkInputChannels } from './conv';
import { Module } from './module';
import { Parameter } from './parameter';

export interface BatchNorm2dOptions {
  eps?: number;
  /** Weight of each new batch in the running statistics; null for a cumulative average. */
  momentum?: number | null;
  /** Learnable per-channel scale and shift (default true). */
  affine?: boolean;
  /** Keep running statistics for eval mode (default true); without them eval uses batch statistics. */
  trackRunningStats?: boolean;
}

export class BatchNorm2d extends Module {
  readonly numFeatures: number;
  readonly eps: number;
  readonly momentum: number | null;
  readonly affine: boolean;
  readonly trackRunningStats: boolean;
  weight: Parameter | null;
  bias: Parameter | null;

  constructor(numFeatures: number, options: BatchNorm2dOptions = {}) {
    super();
    this.numFeatures = checkInt('BatchNorm2d', 'numFeatures', numFeatures, 1);
    expectOptionsObject('BatchNorm2d', options);
    this.eps = options.eps ?? 1e-5;
    this.momentum = options.momentum === undefined ? 0.1 : options.momentum;
    this.affine = options.affine ?? true;
    this.trackRunningStats = options.trackRunningStats ?? true;
    if (typeof this.eps !== 'number' || !(this.eps >= 0)) {
      throw new ArgumentError(
        `BatchNorm2d: expected eps to be a non-negative number but received ${describe(this.eps)}`,
      );
    }
    if (this.momentum !== null && (typeof this.momentum !== 'number' || !(this.momentum >= 0 && this.momentum <= 1))) {
      throw new ArgumentError(
        `BatchNorm2d: expected momentum to be a number in [0, 1] or null but received ${describe(this.momentum)}`,
      );
    }
    this.weight = this.affine ? new Parameter(Tensor.ones([numFeatures])) : null;
    this.bias = this.affine ? new Parameter(Tensor.zeros([numFeatures])) : null;
    const track = this.trackRunningStats;
    this.registerBuffer('running_mean', track ? Tensor.zeros([numFeatures]) : null);
    this.registerBuffer('running_var', track ? Tensor.ones([numFeatures]) : null);
    this.registerBuffer('num_batches_tracked', track ? Tensor.zeros([]) : null);
  }

  get runningMean(): Tensor | null {
    return this.buffer('running_mean');
  }

  get runningVar(): Tensor | null {
    return this.buffer('running_var');
  }

  /** Batches seen in training mode (a 0-d tensor in the state dict, as in PyTorch). */
  get numBatchesTracked(): number {
    return this.buffer('num_batches_tracked')?.item() ?? 0;
  }

  /** Running statistics back to mean 0, variance 1, no batches. */
  resetRunningStats(): void {
    if (!this.trackRunningStats) return;
    fillWith(this.runningMean as Tensor, 0);
    fillWith(this.runningVar as Tensor, 1);
    fillWith(this.buffer('num_batches_tracked') as Tensor, 0);
  }

  forward(x: Tensor): Tensor {
    return this.normalize(x, {});
  }

  /**
   * relu?(forward(x) + residual?), a residual block's tail: on the CPU in the batch norm's own
   * passes (training too), one write of the activation instead of three and one read of its
   * gradient instead of three. A subclass that overrides forward (SyncBatchNorm) gets its forward
   * and the separate ops.
   */
  forwardWithEpilogue(x: Tensor, epilogue: ops.EpilogueOptions): Tensor {
    if ((Object.getPrototypeOf(this) as BatchNorm2d).forward !== BatchNorm2d.prototype.forward) {
      const { residual = null, relu = false } = epilogue;
      return applyEpilogue(this.forward(x), { residual, relu });
    }
    return this.located(() => this.normalize(x, epilogue));
  }

  private normalize(x: Tensor, epilogue: ops.EpilogueOptions): Tensor {
    checkInputChannels('BatchNorm2d', x, this.numFeatures);
    const useBatchStats = this.training || !this.trackRunningStats;
    // Running statistics are updated only in training mode with tracking on.
    const updateStats = this.training && this.trackRunningStats;
    const count = updateStats ? this.numBatchesTracked + 1 : 0;
    const momentum = this.momentum ?? (updateStats ? 1 / count : 0);
    const y = ops.batchNorm2d(
      x,
      updateStats || !useBatchStats ? this.runningMean : null,
      updateStats || !useBatchStats ? this.runningVar : null,
      this.weight,
      this.bias,
      { training: useBatchStats, momentum, eps: this.eps, ...epilogue },
    );
    if (updateStats) fillWith(this.buffer('num_batches_tracked') as Tensor, count);
    return y;
  }

  protected override extraRepr(): string {
    return `${this.numFeatures}, eps=${this.eps}, momentum=${this.momentum}, affine=${this.affine}, trackRunningStats=${this.trackRunningStats}`;
  }
}

function fillWith(t: Tensor, value: number): void {
  if (t.device === 'cpu') t.data.fill(value);
  else native().cudaUpload(t.buffer, new Float32Array(t.numel).fill(value));
}
