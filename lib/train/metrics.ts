/**
 * Metrics computed from the network's raw outputs (logits) on the CPU, outside autograd:
 * accuracy for classification ([N, C] logits vs [N] targets) and, for segmentation
 * ([N, C, H, W] logits vs [N, H, W] targets), pixel accuracy and mean intersection-over-union
 * from an accumulated confusion matrix.
 */
import { shapeString } from '../check';
import { ArgumentError, describe, ShapeError } from '../errors';
import { Tensor } from '../tensor';

/** Accumulates a C x C confusion matrix (rows: target, columns: prediction). */
export class ConfusionMatrix {
  readonly counts: Float64Array;

  constructor(
    readonly numClasses: number,
    readonly ignoreIndex = -100,
  ) {
    this.counts = new Float64Array(numClasses * numClasses);
  }

  /** Adds the argmax predictions of `logits` ([N, C] or [N, C, H, W]) against `target` ([N] or [N, H, W]). */
  update(logits: Tensor, target: Tensor): void {
    checkLogits('ConfusionMatrix.update', logits);
    if (!(target instanceof Tensor)) {
      throw new ArgumentError(
        `ConfusionMatrix.update: expected target to be a Tensor of class indices but received ${describe(target)}`,
      );
    }
    const C = this.numClasses;
    const s = logits.shape;
    const spatial = s.length === 4 ? s[2] * s[3] : 1;
    const expected = s.length === 4 ? [s[0], s[2], s[3]] : [s[0]];
    if ((s.length !== 2 && s.length !== 4) || s[1] !== C || target.numel !== expected.reduce((a, b) => a * b, 1)) {
      throw new ShapeError(
        `ConfusionMatrix.update: expected logits [N, ${C}] or [N, ${C}, H, W] and target [N] or [N, H, W] but received ${shapeString(
          s,
        )} and ${shapeString(target.shape)}`,
      );
    }
    const x = logits.device === 'cpu' ? logits.data : Float32Array.from(logits.toArray());
    const t = target.device === 'cpu' ? target.data : Float32Array.from(target.toArray());
    const N = s[0];
    for (let n = 0; n < N; n++) {
      const base = n * C * spatial;
      for (let p = 0; p < spatial; p++) {
        const truth = t[n * spatial + p];
        if (truth === this.ignoreIndex) continue;
        let best = 0;
        let bestValue = x[base + p];
        for (let c = 1; c < C; c++) {
          const v = x[base + c * spatial + p];
          if (v > bestValue) {
            bestValue = v;
            best = c;
          }
        }
        this.counts[truth * C + best]++;
      }
    }
  }

  get total(): number {
    let s = 0;
    for (const v of this.counts) s += v;
    return s;
  }

  /** Fraction of samples (pixels) predicted correctly. */
  accuracy(): number {
    let correct = 0;
    for (let c = 0; c < this.numClasses; c++) correct += this.counts[c * this.numClasses + c];
    const total = this.total;
    return total > 0 ? correct / total : 0;
  }

  /** Per-class IoU = TP / (TP + FP + FN); NaN for classes absent from both targets and predictions. */
  iou(): number[] {
    const C = this.numClasses;
    const out: number[] = [];
    for (let c = 0; c < C; c++) {
      let row = 0;
      let col = 0;
      for (let k = 0; k < C; k++) {
        row += this.counts[c * C + k];
        col += this.counts[k * C + c];
      }
      const tp = this.counts[c * C + c];
      const union = row + col - tp;
      out.push(union > 0 ? tp / union : NaN);
    }
    return out;
  }

  /** Mean IoU over the classes that occur (in targets or predictions). */
  meanIoU(): number {
    const present = this.iou().filter((v) => !Number.isNaN(v));
    return present.length ? present.reduce((a, b) => a + b, 0) / present.length : 0;
  }
}

function checkLogits(where: string, logits: unknown): void {
  if (!(logits instanceof Tensor) || logits.ndim < 2) {
    throw new ArgumentError(
      `${where}: expected logits to be a Tensor [N, classes, ...] but received ${describe(logits)}`,
    );
  }
}

/** Fraction of rows of [N, C] logits whose argmax equals the target. */
export function accuracy(logits: Tensor, target: Tensor): number {
  checkLogits('accuracy', logits);
  const m = new ConfusionMatrix(logits.shape[1]);
  m.update(logits, target);
  return m.accuracy();
}

/** Mean IoU of [N, C, H, W] logits against [N, H, W] targets. */
export function meanIoU(logits: Tensor, target: Tensor): number {
  checkLogits('meanIoU', logits);
  const m = new ConfusionMatrix(logits.shape[1]);
  m.update(logits, target);
  return m.meanIoU();
}
