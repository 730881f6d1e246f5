/** Temperature annealing of dynamic convolutions' routing (DY-Conv): a schedule over epochs. */
import { checkNumber, expectOptionsObject } from '../check';
import { ArgumentError, describe, ShapeError } from '../errors';
import { dynamicConvLayers, setTemperature } from '../nn/dynamic';
import { Module } from '../nn/module';

export interface TemperatureScheduleOptions {
  /** Temperature at epoch 0 (default 30, as in DY-Conv). */
  start?: number;
  /** Temperature from `epochs` on (default 1). */
  end?: number;
  /** Length of the linear annealing in epochs (default 10). */
  epochs?: number;
}

/** Linear annealing: start at epoch 0, end from `epochs` on, linear in between (fractional epochs allowed). */
export function linearTemperature(epoch: number, options: TemperatureScheduleOptions = {}): number {
  expectOptionsObject('linearTemperature', options);
  const start = options.start ?? 30,
    end = options.end ?? 1,
    epochs = options.epochs ?? 10;
  checkNumber('linearTemperature', 'epoch', epoch);
  if (epochs <= 0 || epoch >= epochs) return end;
  if (epoch <= 0) return start;
  return start + (end - start) * (epoch / epochs);
}

/**
 * Anneals the temperature of every DynamicConv2d of a model: call step() once per epoch
 * (or step(fractionalEpoch) per batch). The constructor applies the epoch-0 temperature.
 */
export class TemperatureSchedule {
  private epoch = 0;
  readonly options: Required<TemperatureScheduleOptions>;

  constructor(
    readonly model: Module,
    options: TemperatureScheduleOptions = {},
  ) {
    const where = 'TemperatureSchedule';
    if (!(model instanceof Module)) {
      throw new ArgumentError(`${where}: expected model to be a Module but received ${describe(model)}`);
    }
    expectOptionsObject(where, options);
    const start = checkNumber(where, 'start', options.start ?? 30);
    const end = checkNumber(where, 'end', options.end ?? 1);
    const epochs = checkNumber(where, 'epochs', options.epochs ?? 10);
    if (!(start > 0) || !(end > 0) || epochs < 0) {
      throw new ArgumentError(
        `${where}: expected positive start and end and non-negative epochs but received ${describe(options)}`,
      );
    }
    this.options = { start, end, epochs };
    if (dynamicConvLayers(model).length === 0) {
      throw new ShapeError(`${where}: the model has no DynamicConv2d layer to anneal`);
    }
    setTemperature(model, this.value);
  }

  /** The temperature for the current epoch. */
  get value(): number {
    return linearTemperature(this.epoch, this.options);
  }

  /** Advances to `epoch` (default: the next one) and applies its temperature; returns it. */
  step(epoch?: number): number {
    this.epoch = epoch === undefined ? this.epoch + 1 : checkNumber('TemperatureSchedule.step', 'epoch', epoch);
    const t = this.value;
    setTemperature(this.model, t);
    return t;
  }
}
