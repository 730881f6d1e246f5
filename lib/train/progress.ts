/**
 * Training progress: a cli-progress bar (loss, accuracy, images/s) when stderr is a terminal,
 * plain log lines otherwise (CI logs, files, pipes), or nothing.
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
  endEpoch(summary: string): void;
}

function fmt(f: StepFigures): { loss: string; acc: string; ips: string } {
  return { loss: f.loss.toFixed(4), acc: (100 * f.accuracy).toFixed(1), ips: f.imagesPerSecond.toFixed(0) };
}

class BarReporter implements ProgressReporter {
  private bar: cliProgress.SingleBar | null = null;

  startEpoch(epoch: number, epochs: number, steps: number): void {
    this.bar = new cliProgress.SingleBar(
      {
        format: `epoch ${epoch}/${epochs} |{bar}| {value}/{total} | loss {loss} | acc {acc}% | {ips} img/s | eta {eta_formatted}`,
        barsize: 24,
        hideCursor: true,
        clearOnComplete: true,
        stream: process.stderr,
      },
      cliProgress.Presets.shades_classic,
    );
    this.bar.start(steps, 0, { loss: '-', acc: '-', ips: '-' });
  }

  step(done: number, figures: StepFigures): void {
    this.bar?.update(done, fmt(figures));
  }

  endEpoch(summary: string): void {
    this.bar?.stop();
    this.bar = null;
    process.stderr.write(`${summary}\n`);
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
    this.log(`epoch ${this.epoch}/${this.epochs} step ${done}/${this.steps} loss ${f.loss} acc ${f.acc}% ${f.ips} img/s`);
  }

  endEpoch(summary: string): void {
    this.log(summary);
  }
}

class SilentReporter implements ProgressReporter {
  startEpoch(): void {}
  step(): void {}
  endEpoch(): void {}
}

export function createReporter(mode: ProgressMode, log: (line: string) => void): ProgressReporter {
  const resolved = mode === 'auto' ? (process.stderr.isTTY ? 'bar' : 'lines') : mode;
  if (resolved === 'bar') return new BarReporter();
  if (resolved === 'lines') return new LineReporter(log);
  return new SilentReporter();
}
