/**
 * Argument checks shared by every public function. Messages follow one pattern:
 * "<where>: expected <name> to be <what> but received <value>".
 */
import { ArgumentError, describe, ShapeError } from './errors';

export function isInt(x: unknown): x is number {
  return typeof x === 'number' && Number.isInteger(x);
}

export function checkInt(where: string, name: string, value: unknown, min = -Infinity): number {
  if (!isInt(value) || value < min) {
    const what = min === 0 ? 'a non-negative integer' : min === 1 ? 'a positive integer' : 'an integer';
    throw new ArgumentError(`${where}: expected ${name} to be ${what} but received ${describe(value)}`);
  }
  return value;
}

export function checkNumber(where: string, name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new ArgumentError(`${where}: expected ${name} to be a finite number but received ${describe(value)}`);
  }
  return value;
}

export function checkOneOf<T extends string>(where: string, name: string, value: unknown, options: readonly T[]): T {
  if (typeof value !== 'string' || !options.includes(value as T)) {
    throw new ArgumentError(
      `${where}: expected ${name} to be one of ${options.map((o) => `'${o}'`).join(', ')} but received ${describe(value)}`,
    );
  }
  return value as T;
}

function isIntAtLeast(v: unknown, min: number): boolean {
  return isInt(v) && (v as number) >= min;
}

/** A number or [h, w] pair of integers >= min, as PyTorch's _pair. */
export function checkPair(where: string, name: string, value: unknown, min: number): [number, number] {
  const pair = typeof value === 'number' ? [value, value] : value;
  if (!Array.isArray(pair) || pair.length !== 2 || !isIntAtLeast(pair[0], min) || !isIntAtLeast(pair[1], min)) {
    const what = min >= 1 ? 'positive integers' : 'non-negative integers';
    throw new ArgumentError(
      `${where}: expected ${name} to be an integer or a pair of ${what} but received ${describe(value)}`,
    );
  }
  return [pair[0] as number, pair[1] as number];
}

export function checkShape(where: string, name: string, shape: unknown): number[] {
  if (!Array.isArray(shape) || !shape.every((d) => isInt(d) && d >= 0)) {
    throw new ArgumentError(
      `${where}: expected ${name} to be an array of non-negative integers but received ${describe(shape)}`,
    );
  }
  return shape as number[];
}

export function shapeString(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

export function expectShape(where: string, name: string, actual: readonly number[], expected: readonly number[]): void {
  if (actual.length !== expected.length || actual.some((d, i) => d !== expected[i])) {
    throw new ShapeError(
      `${where}: expected ${name} of shape ${shapeString(expected)} but received ${shapeString(actual)}`,
    );
  }
}

export function expectNdim(where: string, name: string, actual: readonly number[], ndim: number): void {
  if (actual.length !== ndim) {
    throw new ShapeError(
      `${where}: expected ${name} to have ${ndim} dimensions but received shape ${shapeString(actual)}`,
    );
  }
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return row[b.length];
}

/** A byte-buffer argument (a Uint8Array or a Buffer), for the format parsers. */
export function checkBytes(where: string, bytes: unknown): void {
  if (!(bytes instanceof Uint8Array)) {
    throw new ArgumentError(`${where}: expected bytes to be a Uint8Array or Buffer but received ${describe(bytes)}`);
  }
}

/** A directory argument: a non-empty string. */
export function checkDirectory(where: string, dir: unknown): string {
  if (typeof dir !== 'string' || dir.length === 0) {
    throw new ArgumentError(
      `${where}: expected dir to be a directory path (a non-empty string) but received ${describe(dir)}`,
    );
  }
  return dir;
}

/**
 * Refuses options that are not an object (null, a number, an array): the function would
 * otherwise fail reading its first option with a TypeError that names nothing of the caller's.
 * Two comparisons: cheap enough for the tensor factories every op calls. `like` shows the
 * expected shape in the message ("{ stride, padding }"); `refuse` refuses an object the caller
 * recognises as a wrong argument (a Tensor passed where the options go).
 */
export function expectOptionsObject(
  where: string,
  options: unknown,
  like?: string,
  refuse = false,
): asserts options is object {
  if (refuse || options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new ArgumentError(
      `${where}: expected options to be an object${like ? ` like ${like}` : ''} but received ${describe(options)}`,
    );
  }
}

/**
 * Rejects option keys a function does not know: a typo such as { paddin: 1 } would otherwise be
 * ignored (JavaScript callers have no type checker) and surface later as an unrelated shape
 * error. Names the closest known key when one is near. Options that are not an object at all
 * are refused too (expectOptionsObject); undefined means "none".
 */
export function checkOptionKeys(where: string, options: object | null | undefined, known: readonly string[]): void {
  if (options === undefined) return;
  expectOptionsObject(where, options);
  // for-in rather than Object.keys: no array per call (this runs on every op's options).
  for (const key in options) {
    if (!Object.prototype.hasOwnProperty.call(options, key) || known.includes(key)) continue;
    const near = known
      .map((k) => [k, editDistance(key.toLowerCase(), k.toLowerCase())] as const)
      .sort((a, b) => a[1] - b[1])[0];
    const hint = near && near[1] <= Math.max(2, Math.floor(key.length / 3)) ? ` (did you mean '${near[0]}'?)` : '';
    throw new ArgumentError(
      `${where}: unknown option '${key}'${hint}; expected keys are ${known.map((k) => `'${k}'`).join(', ')}`,
    );
  }
}
