/**
 * Training progress: a cli-progress bar (loss, accuracy, images/s, eta) on stderr when it is a
 * terminal, plain log lines otherwise (CI logs, files, pipes), or nothing. In every mode the
 * per-epoch summary goes through `log` (console.log by default, so `node train.js > out.log`
 * keeps one line per epoch even when the bar is drawn on the terminal).
 */
import * as cliProgress from 'cli-progress';

export type ProgressMode = 'auto' | 'bar' | 'lines' | 'none';

export interface StepFigures {
  loss: number;
  accuracy: number;
  imagesPerSecond: number;
}

export interface ProgressReporter {
  startEpoch(epoch: number, epochs: number, steps: number): void;
  step(done: number, figures: StepFigures): void;
  /** The epoch's training steps are done and the validation set is being evaluated. */
  validating(): void;
  endEpoch(summary: string): void;
}

function fmt(f: StepFigures): { loss: string; acc: string; ips: string } {
  return { loss: f.loss.toFixed(4), acc: `${(100 * f.accuracy).toFixed(1)}%`, ips: f.imagesPerSecond.toFixed(0) };
}

/** Seconds as '42s', '3m05s', '1h02m'. */
export function formatEta(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

class BarReporter implements ProgressReporter {
  private bar: cliProgress.SingleBar | null = null;
  private started = 0;
  private steps = 0;

  constructor(private readonly log: (line: string) => void) {}

  startEpoch(epoch: number, epochs: number, steps: number): void {
    this.bar = new cliProgress.SingleBar(
      {
        format: `epoch ${epoch}/${epochs} |{bar}| {value}/{total} | loss {loss} | acc {acc} | {ips} img/s | {eta}`,
        barsize: 24,
        hideCursor: true,
        clearOnComplete: true,
        stream: process.stderr,
      },
      cliProgress.Presets.shades_classic,
    );
    this.started = Date.now();
    this.steps = steps;
    // Nothing is known before the first step: say so rather than show 'acc -%' and 'eta 0s'.
    this.bar.start(steps, 0, { loss: '…', acc: '…', ips: '…', eta: 'starting' });
  }

  step(done: number, figures: StepFigures): void {
    const elapsed = (Date.now() - this.started) / 1000;
    const eta = `eta ${formatEta((elapsed / done) * (this.steps - done))}`;
    this.bar?.update(done, { ...fmt(figures), eta });
  }

  validating(): void {
    this.bar?.update({ eta: 'validating…' });
  }

  endEpoch(summary: string): void {
    this.bar?.stop();
    this.bar = null;
    this.log(summary);
  }
}

class LineReporter implements ProgressReporter {
  private epoch = 0;
  private epochs = 0;
  private steps = 0;
  private every = 1;

  constructor(private readonly log: (line: string) => void) {}

  startEpoch(epoch: number, epochs: number, steps: number): void {
    this.epoch = epoch;
    this.epochs = epochs;
    this.steps = steps;
    // About four lines per epoch: enough to see it move, few enough for a CI log.
    this.every = Math.max(1, Math.ceil(steps / 4));
  }

  step(done: number, figures: StepFigures): void {
    if (done % this.every !== 0 || done === this.steps) return;
    const f = fmt(figures);
    this.log(
      `epoch ${this.epoch}/${this.epochs} step ${done}/${this.steps} loss ${f.loss} acc ${f.acc} ${f.ips} img/s`,
    );
  }

  validating(): void {
    this.log(`epoch ${this.epoch}/${this.epochs} validating`);
  }

  endEpoch(summary: string): void {
    this.log(summary);
  }
}

class SilentReporter implements ProgressReporter {
  startEpoch(): void {}
  step(): void {}
  validating(): void {}
  endEpoch(): void {}
}

export function createReporter(mode: ProgressMode, log: (line: string) => void): ProgressReporter {
  const resolved = mode === 'auto' ? (process.stderr.isTTY ? 'bar' : 'lines') : mode;
  if (resolved === 'bar') return new BarReporter(log);
  if (resolved === 'lines') return new LineReporter(log);
  return new SilentReporter();
}
