/**
 * Progress of the whole job, not just the current epoch: how many epochs of how many are done
 * across every configuration, the elapsed time and an estimate of what is left. The estimate
 * weights the remaining epochs by what their experiment's epochs have cost so far (an epoch of
 * a U-Net costs differently from one of a ResNet), falling back to the job-wide mean.
 */
import { formatEta } from '../../lib/train/progress';

export class RunClock {
  private readonly started = Date.now();
  private readonly remaining = new Map<string, number>();
  private readonly spent = new Map<string, { seconds: number; epochs: number }>();
  private done = 0;

  /** `epochs` planned for `group` (an experiment name). Call for every run before starting. */
  plan(group: string, epochs: number): void {
    this.remaining.set(group, (this.remaining.get(group) ?? 0) + epochs);
  }

  /** One epoch of `group` finished, having taken `seconds` (training and validation). */
  epochDone(group: string, seconds: number): void {
    this.done++;
    this.remaining.set(group, Math.max(0, (this.remaining.get(group) ?? 0) - 1));
    const s = this.spent.get(group) ?? { seconds: 0, epochs: 0 };
    this.spent.set(group, { seconds: s.seconds + seconds, epochs: s.epochs + 1 });
  }

  get total(): number {
    let left = 0;
    for (const n of this.remaining.values()) left += n;
    return this.done + left;
  }

  /** Seconds still to go, or null before anything has been measured. */
  etaSeconds(): number | null {
    let allSeconds = 0;
    let allEpochs = 0;
    for (const s of this.spent.values()) {
      allSeconds += s.seconds;
      allEpochs += s.epochs;
    }
    if (allEpochs === 0) return null;
    let left = 0;
    for (const [group, n] of this.remaining) {
      const s = this.spent.get(group);
      left += n * (s && s.epochs ? s.seconds / s.epochs : allSeconds / allEpochs);
    }
    return left;
  }

  /** One status line: "job: 5/24 epochs, 1m10s elapsed, about 3m02s left". */
  line(): string {
    const elapsed = (Date.now() - this.started) / 1000;
    const eta = this.etaSeconds();
    return `job: ${this.done}/${this.total} epochs, ${formatEta(elapsed)} elapsed${eta === null ? '' : `, about ${formatEta(eta)} left`}`;
  }
}
