/**
 * In-place weight initialisers with PyTorch's formulas (torch.nn.init). Each fills the tensor
 * from the seedable global generator (or the one given) and returns it.
 *
 * Layers use PyTorch's defaults: conv / linear weights kaimingUniform_(w, { a: sqrt(5) }),
 * which is U(-1/sqrt(fanIn), 1/sqrt(fanIn)), and biases U(-1/sqrt(fanIn), 1/sqrt(fanIn)).
 */
import { weightsChanged } from '../weights_generation';
import { checkNumber, checkOneOf, expectOptionsObject, shapeString } from '../check';
import { ArgumentError, describe, ShapeError } from '../errors';
import { native } from '../native';
import { defaultGenerator, Generator } from '../random';
import { Tensor } from '../tensor';

export type Nonlinearity = 'linear' | 'conv2d' | 'sigmoid' | 'tanh' | 'relu' | 'leaky_relu' | 'selu';
export type FanMode = 'fanIn' | 'fanOut';

/** (fanIn, fanOut) as torch.nn.init._calculate_fan_in_and_fan_out: dim 1 and dim 0 times the kernel size. */
export function calculateFanInAndFanOut(t: Tensor): { fanIn: number; fanOut: number } {
  if (t.ndim < 2) {
    throw new ShapeError(
      `calculateFanInAndFanOut: expected a tensor with at least 2 dimensions but received shape ${shapeString(t.shape)}`,
    );
  }
  let receptive = 1;
  for (let i = 2; i < t.ndim; i++) receptive *= t.shape[i];
  return { fanIn: t.shape[1] * receptive, fanOut: t.shape[0] * receptive };
}

/** torch.nn.init.calculate_gain. */
export function calculateGain(nonlinearity: Nonlinearity, param?: number): number {
  checkOneOf('calculateGain', 'nonlinearity', nonlinearity, [
    'linear',
    'conv2d',
    'sigmoid',
    'tanh',
    'relu',
    'leaky_relu',
    'selu',
  ]);
  switch (nonlinearity) {
    case 'tanh':
      return 5 / 3;
    case 'relu':
      return Math.SQRT2;
    case 'leaky_relu': {
      const slope = param ?? 0.01;
      return Math.sqrt(2 / (1 + slope * slope));
    }
    case 'selu':
      return 3 / 4;
    default:
      return 1;
  }
}

/** Writes f(i) into every element of t (on any device). */
function fill(t: Tensor, f: () => number): Tensor {
  if (!(t instanceof Tensor)) throw new ArgumentError(`init: expected a Tensor but received ${describe(t)}`);
  weightsChanged();
  const host = t.device === 'cpu' ? t.data : new Float32Array(t.numel);
  for (let i = 0; i < host.length; i++) host[i] = f();
  if (t.device !== 'cpu') native().cudaUpload(t.buffer, host);
  return t;
}

export function uniform_(t: Tensor, low = 0, high = 1, generator: Generator = defaultGenerator): Tensor {
  checkNumber('uniform_', 'low', low);
  checkNumber('uniform_', 'high', high);
  return fill(t, () => low + (high - low) * generator.uniform());
}

export function normal_(t: Tensor, mean = 0, std = 1, generator: Generator = defaultGenerator): Tensor {
  checkNumber('normal_', 'mean', mean);
  checkNumber('normal_', 'std', std);
  return fill(t, () => mean + std * generator.normal());
}

export function constant_(t: Tensor, value: number): Tensor {
  checkNumber('constant_', 'value', value);
  return fill(t, () => value);
}

export function zeros_(t: Tensor): Tensor {
  return constant_(t, 0);
}

export function ones_(t: Tensor): Tensor {
  return constant_(t, 1);
}

export interface KaimingOptions {
  /** Negative slope of the leaky ReLU that follows (default 0). */
  a?: number;
  mode?: FanMode;
  nonlinearity?: Nonlinearity;
  generator?: Generator;
}

function kaimingStd(where: string, t: Tensor, options: KaimingOptions): number {
  const mode = checkOneOf(where, 'mode', options.mode ?? 'fanIn', ['fanIn', 'fanOut']);
  const { fanIn, fanOut } = calculateFanInAndFanOut(t);
  const fan = mode === 'fanIn' ? fanIn : fanOut;
  if (fan === 0)
    throw new ShapeError(`${where}: cannot initialise a tensor with zero elements (shape ${shapeString(t.shape)})`);
  const gain = calculateGain(options.nonlinearity ?? 'leaky_relu', options.a ?? 0);
  return gain / Math.sqrt(fan);
}

/** U(-b, b) with b = gain * sqrt(3 / fan) (He et al. 2015). */
export function kaimingUniform_(t: Tensor, options: KaimingOptions = {}): Tensor {
  expectOptionsObject('kaimingUniform_', options);
  const bound = Math.sqrt(3) * kaimingStd('kaimingUniform_', t, options);
  return uniform_(t, -bound, bound, options.generator);
}

/** N(0, std^2) with std = gain / sqrt(fan). */
export function kaimingNormal_(t: Tensor, options: KaimingOptions = {}): Tensor {
  expectOptionsObject('kaimingNormal_', options);
  return normal_(t, 0, kaimingStd('kaimingNormal_', t, options), options.generator);
}

/** U(-a, a) with a = gain * sqrt(6 / (fanIn + fanOut)) (Glorot & Bengio 2010). */
export function xavierUniform_(t: Tensor, gain = 1, generator: Generator = defaultGenerator): Tensor {
  const { fanIn, fanOut } = calculateFanInAndFanOut(t);
  const bound = gain * Math.sqrt(6 / (fanIn + fanOut));
  return uniform_(t, -bound, bound, generator);
}

export function xavierNormal_(t: Tensor, gain = 1, generator: Generator = defaultGenerator): Tensor {
  const { fanIn, fanOut } = calculateFanInAndFanOut(t);
  return normal_(t, 0, gain * Math.sqrt(2 / (fanIn + fanOut)), generator);
}

/** PyTorch's default for conv and linear layers: kaiming_uniform_(a=sqrt(5)) weight, U(+-1/sqrt(fanIn)) bias. */
export function resetConvLinear(weight: Tensor, bias: Tensor | null): void {
  kaimingUniform_(weight, { a: Math.sqrt(5) });
  if (bias) {
    const { fanIn } = calculateFanInAndFanOut(weight);
    const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
    uniform_(bias, -bound, bound);
  }
}
