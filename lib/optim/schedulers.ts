/**
 * Learning-rate schedulers. Each is a closed form of the epoch (or iteration) counter: it
 * remembers every group's initial lr, and `step()` advances the counter and writes the new
 * lr into the optimizer's groups. Construction sets the lr of epoch 0, as PyTorch does.
 *
 *   StepLR:             lr = base * gamma^floor(epoch / stepSize)
 *   CosineAnnealingLR:  lr = etaMin + (base - etaMin) * (1 + cos(pi * epoch / tMax)) / 2
 *   LinearWarmup:       lr = base * (start + (end - start) * min(epoch, warmupSteps) / warmupSteps)
 *   SequentialLR:       runs schedulers one after the other, switching at `milestones`.
 */
import { checkInt, checkNumber } from '../check';
import { ArgumentError, describe } from '../errors';
import type { GroupOptions, Optimizer } from './optimizer';

export abstract class LRScheduler {
  /** Steps taken so far (PyTorch's last_epoch). */
  lastEpoch = 0;
  readonly baseLrs: number[];

  constructor(readonly optimizer: Optimizer<GroupOptions>) {
    if (!optimizer || !Array.isArray((optimizer as Optimizer<GroupOptions>).paramGroups)) {
      throw new ArgumentError(
        `${new.target.name}: expected optimizer to be an Optimizer but received ${describe(optimizer)}`,
      );
    }
    // Like PyTorch's initial_lr: the first scheduler attached to an optimizer fixes the base.
    this.baseLrs = optimizer.paramGroups.map((g) => {
      const group = g as GroupOptions & { initialLr?: number };
      if (group.initialLr === undefined) group.initialLr = group.lr;
      return group.initialLr;
    });
  }

  /** The lr of each group at `epoch`. */
  abstract lrAt(epoch: number, baseLr: number): number;

  /** Applies the lr of the current epoch (subclasses call it at the end of their constructor). */
  protected apply(): void {
    this.optimizer.paramGroups.forEach((g, i) => {
      g.lr = this.lrAt(this.lastEpoch, this.baseLrs[i]);
    });
  }

  /** Advances one epoch (or iteration) and updates the optimizer's lrs. */
  step(): void {
    this.lastEpoch++;
    this.apply();
  }

  /** The lrs of the current epoch, one per group. */
  getLr(): number[] {
    return this.baseLrs.map((b) => this.lrAt(this.lastEpoch, b));
  }

  /** PyTorch's name for getLr(). */
  getLastLr(): number[] {
    return this.getLr();
  }

  stateDict(): { lastEpoch: number; baseLrs: number[] } {
    return { lastEpoch: this.lastEpoch, baseLrs: [...this.baseLrs] };
  }

  loadStateDict(state: { lastEpoch: number; baseLrs?: number[] }): void {
    this.lastEpoch = checkInt(`${this.constructor.name}.loadStateDict`, 'lastEpoch', state?.lastEpoch, 0);
    if (state.baseLrs) state.baseLrs.forEach((b, i) => (this.baseLrs[i] = b));
    this.apply();
  }
}

export class StepLR extends LRScheduler {
  readonly stepSize: number;
  readonly gamma: number;

  constructor(optimizer: Optimizer<GroupOptions>, options: { stepSize: number; gamma?: number }) {
    super(optimizer);
    this.stepSize = checkInt('StepLR', 'stepSize', options?.stepSize, 1);
    this.gamma = checkNumber('StepLR', 'gamma', options.gamma ?? 0.1);
    this.apply();
  }

  lrAt(epoch: number, base: number): number {
    return base * Math.pow(this.gamma, Math.floor(epoch / this.stepSize));
  }
}

export class CosineAnnealingLR extends LRScheduler {
  readonly tMax: number;
  readonly etaMin: number;

  constructor(optimizer: Optimizer<GroupOptions>, options: { tMax: number; etaMin?: number }) {
    super(optimizer);
    this.tMax = checkInt('CosineAnnealingLR', 'tMax', options?.tMax, 1);
    this.etaMin = checkNumber('CosineAnnealingLR', 'etaMin', options.etaMin ?? 0);
    this.apply();
  }

  // The closed form PyTorch documents (its recursive update equals it while epoch <= tMax);
  // past tMax the cosine continues periodically, as PyTorch's closed form does.
  lrAt(epoch: number, base: number): number {
    return this.etaMin + ((base - this.etaMin) * (1 + Math.cos((Math.PI * epoch) / this.tMax))) / 2;
  }
}

/** Linear ramp of the lr factor from startFactor to endFactor over warmupSteps (PyTorch's LinearLR). */
export class LinearWarmup extends LRScheduler {
  readonly warmupSteps: number;
  readonly startFactor: number;
  readonly endFactor: number;

  constructor(
    optimizer: Optimizer<GroupOptions>,
    options: { warmupSteps: number; startFactor?: number; endFactor?: number },
  ) {
    super(optimizer);
    this.warmupSteps = checkInt('LinearWarmup', 'warmupSteps', options?.warmupSteps, 1);
    this.startFactor = checkNumber('LinearWarmup', 'startFactor', options.startFactor ?? 0.1);
    this.endFactor = checkNumber('LinearWarmup', 'endFactor', options.endFactor ?? 1);
    if (this.startFactor <= 0 || this.startFactor > 1) {
      throw new ArgumentError(
        `LinearWarmup: expected startFactor to be in (0, 1] but received ${describe(this.startFactor)}`,
      );
    }
    this.apply();
  }

  lrAt(epoch: number, base: number): number {
    const t = Math.min(epoch, this.warmupSteps) / this.warmupSteps;
    return base * (this.startFactor + (this.endFactor - this.startFactor) * t);
  }
}

/**
 * Runs `schedulers` in sequence: scheduler i is active from milestones[i-1] on and sees its own
 * epoch counter starting at 0 (PyTorch's SequentialLR), e.g. warm-up then cosine decay:
 *   new SequentialLR(opt, [new LinearWarmup(opt, { warmupSteps: 5 }), new CosineAnnealingLR(opt, { tMax: 95 })], [5])
 */
export class SequentialLR extends LRScheduler {
  constructor(
    optimizer: Optimizer<GroupOptions>,
    readonly schedulers: LRScheduler[],
    readonly milestones: number[],
  ) {
    super(optimizer);
    if (!Array.isArray(schedulers) || schedulers.length === 0 || !schedulers.every((s) => s instanceof LRScheduler)) {
      throw new ArgumentError(
        `SequentialLR: expected schedulers to be a non-empty array of schedulers but received ${describe(schedulers)}`,
      );
    }
    if (schedulers.some((s) => s.optimizer !== optimizer)) {
      throw new ArgumentError('SequentialLR: every scheduler must drive the same optimizer as the SequentialLR');
    }
    if (!Array.isArray(milestones) || milestones.length !== schedulers.length - 1) {
      throw new ArgumentError(
        `SequentialLR: expected ${schedulers.length - 1} milestones (one fewer than schedulers) but received ${describe(milestones)}`,
      );
    }
    milestones.forEach((m, i) => {
      checkInt('SequentialLR', `milestones[${i}]`, m, 1);
      if (i > 0 && m <= milestones[i - 1]) {
        throw new ArgumentError(
          `SequentialLR: expected milestones to be increasing but received ${describe(milestones)}`,
        );
      }
    });
    this.apply();
  }

  lrAt(epoch: number, base: number): number {
    let i = 0;
    while (i < this.milestones.length && epoch >= this.milestones[i]) i++;
    const start = i === 0 ? 0 : this.milestones[i - 1];
    return this.schedulers[i].lrAt(epoch - start, base);
  }
}
