/**
 * The native addon's exports, typed: one declaration per function of native/binding (the
 * comment above each FLEXCONV_EXPORT there says the same in C++ terms). lib/native.ts returns
 * this interface, so every call in lib/ is checked against it by the compiler, and
 * test/native_api.test.ts checks that the addon exports exactly these names.
 *
 * Conventions: a tensor argument is a Tensor (the binding reads its shape and storage); `null`
 * marks an absent optional tensor; outputs are preallocated by the caller and overwritten;
 * conv-like ops take their window as one options object of [height, width] pairs. Shape and
 * device checks happen in the binding and throw the typed errors of lib/errors.ts.
 */
import type { CudaHandle, Tensor } from './tensor';

/** Codes of the native unary ops (native/math/pointwise.h UnaryOp). */
export const UnaryCode = {
  neg: 0,
  exp: 1,
  log: 2,
  sqrt: 3,
  relu: 4,
  leakyRelu: 5,
  sigmoid: 6,
  tanh: 7,
  silu: 8,
  affine: 9,
  pow: 10,
  clamp: 11,
  abs: 12,
  softplus: 13,
} as const;

/** Codes of the native binary ops (native/math/pointwise.h BinaryOp); second: out = b, broadcast (a copy). */
export const BinaryCode = { add: 0, sub: 1, mul: 2, div: 3, second: 4 } as const;

type Pair = readonly [number, number];
type Opt = Tensor | null;
type GridMode = 'bilinear' | 'nearest';
type GridPadding = 'zeros' | 'border' | 'reflection';
type InterpolateMode = 'nearest' | 'bilinear';
type Isa = 'avx512' | 'avx2' | 'portable';
/** A weight packed by conv2dPackWeights, deformConv2dPackWeights or linearPackWeight (an opaque native handle). */
export type PackedWeightHandle = object;
/** The window of a conv-like op, as one options object ([h, w] pairs). */
export interface WindowOptions {
  stride: Pair;
  padding: Pair;
  dilation: Pair;
}
/** A convolution's window and groups. */
export interface ConvOptions extends WindowOptions {
  groups: number;
}
/** A pooling window ([h, w] pairs). */
export interface PoolOptions {
  kernelSize: Pair;
  stride: Pair;
  padding: Pair;
  ceilMode: boolean;
}
export interface MaxPoolOptions extends PoolOptions {
  dilation: Pair;
}
export interface AvgPoolOptions extends PoolOptions {
  countIncludePad: boolean;
}

export interface NativeApi {
  // Convolution (native/binding/conv2d.cc)
  conv2d(
    input: Tensor,
    weight: Tensor,
    bias: Opt,
    out: Tensor,
    options: ConvOptions,
    residual?: Opt,
    relu?: boolean,
    packed?: PackedWeightHandle | null,
  ): void;
  conv2dPackWeights(weight: Tensor, groups: number): PackedWeightHandle;
  packedWeightsInfo(handle: PackedWeightHandle): { bytes: number; winograd: boolean };
  conv2dBackwardInput(gradOut: Tensor, weight: Tensor, gradInput: Tensor, options: ConvOptions): void;
  conv2dBackwardWeight(gradOut: Tensor, input: Tensor, gradWeight: Tensor, options: ConvOptions): void;
  channelSums(x: Tensor, sums: Tensor): void;
  addChannelBias(x: Tensor, bias: Tensor): void;

  // Deformable convolution (native/binding/deform_conv2d.cc); groups and offset groups come from the shapes
  /** The op's shape contract (native/ops/deform_conv2d.cc) on shapes alone. */
  deformConv2dGeometry(
    inputShape: readonly number[],
    offsetShape: readonly number[],
    weightShape: readonly number[],
    maskShape: readonly number[] | null,
    biasShape: readonly number[] | null,
    options: WindowOptions,
  ): { outH: number; outW: number; groups: number; offsetGroups: number };
  deformConv2d(
    input: Tensor,
    offset: Tensor,
    mask: Opt,
    weight: Tensor,
    bias: Opt,
    out: Tensor,
    options: WindowOptions,
    packed?: PackedWeightHandle | null,
    residual?: Opt,
    relu?: boolean,
  ): void;
  deformConv2dPackWeights(weight: Tensor, groups: number): PackedWeightHandle;
  deformConv2dBackward(
    input: Tensor,
    offset: Tensor,
    mask: Opt,
    weight: Tensor,
    gradOut: Tensor,
    gradInput: Opt,
    gradOffset: Opt,
    gradMask: Opt,
    gradWeight: Opt,
    gradBias: Opt,
    options: WindowOptions & { deterministic?: boolean },
  ): void;

  // Dynamic convolution (native/binding/dynamic_conv2d.cc)
  dynamicConv2d(
    input: Tensor,
    experts: Tensor,
    attention: Tensor,
    expertBias: Opt,
    out: Tensor,
    options: ConvOptions,
  ): void;
  dynamicConv2dBackward(
    gradOut: Tensor,
    input: Tensor,
    experts: Tensor,
    attention: Tensor,
    expertBias: Opt,
    gradInput: Opt,
    gradExperts: Opt,
    gradAttention: Opt,
    gradExpertBias: Opt,
    options: ConvOptions,
  ): void;

  // Dense algebra (native/binding/gemm.cc): c = alpha * op(a) @ op(b) + beta * c, 3-D operands
  gemm(a: Tensor, b: Tensor, c: Tensor, transA: boolean, transB: boolean, alpha: number, beta: number): void;
  // Linear layers with a packed weight (native/binding/linear.cc)
  linearPackWeight(weight: Tensor): PackedWeightHandle;
  linearPacked(x: Tensor, packed: PackedWeightHandle, bias: Opt, out: Tensor): void;
  linearPackedInfo(packed: PackedWeightHandle): { bytes: number; inFeatures: number; outFeatures: number };

  // Pointwise (native/binding/elementwise.cc); codes: UnaryCode, BinaryCode
  unary(x: Tensor, out: Tensor, code: number, a: number, b: number): void;
  unaryBackward(g: Tensor, x: Opt, y: Opt, gx: Tensor, code: number, a: number, b: number): void;
  binary(a: Tensor, b: Tensor, out: Tensor, code: number): void;
  fill(out: Tensor, value: number): void;
  addInPlace(out: Tensor, x: Tensor): void;

  // Normalisation, sampling, resizing, pooling
  batchNorm2dForward(
    x: Tensor,
    y: Tensor,
    runningMean: Opt,
    runningVar: Opt,
    weight: Opt,
    bias: Opt,
    saveMean: Tensor,
    saveInvstd: Tensor,
    training: boolean,
    momentum: number,
    eps: number,
    residual?: Opt,
    relu?: boolean,
  ): void;
  batchNorm2dBackward(
    x: Tensor,
    dy: Tensor,
    saveMean: Tensor,
    saveInvstd: Tensor,
    weight: Opt,
    gradX: Opt,
    gradWeight: Opt,
    gradBias: Opt,
    training: boolean,
    out?: Opt,
    gradResidual?: Opt,
  ): void;
  gridSample2dForward(
    input: Tensor,
    grid: Tensor,
    out: Tensor,
    mode: GridMode,
    paddingMode: GridPadding,
    alignCorners: boolean,
  ): void;
  gridSample2dBackward(
    dy: Tensor,
    input: Tensor,
    grid: Tensor,
    gradInput: Opt,
    gradGrid: Opt,
    mode: GridMode,
    paddingMode: GridPadding,
    alignCorners: boolean,
  ): void;
  interpolate2dForward(
    x: Tensor,
    y: Tensor,
    mode: InterpolateMode,
    alignCorners: boolean,
    scaleH: number,
    scaleW: number,
    base?: Opt,
  ): void;
  interpolate2dBackward(
    dy: Tensor,
    gradX: Tensor,
    mode: InterpolateMode,
    alignCorners: boolean,
    scaleH: number,
    scaleW: number,
  ): void;
  maxPool2dForward(x: Tensor, y: Tensor, indices: Opt, options: MaxPoolOptions): void;
  maxPool2dBackward(dy: Tensor, indices: Tensor, gradX: Tensor): void;
  avgPool2dForward(x: Tensor, y: Tensor, options: AvgPoolOptions): void;
  avgPool2dBackward(dy: Tensor, gradX: Tensor, options: AvgPoolOptions): void;
  adaptiveAvgPool2dForward(x: Tensor, y: Tensor): void;
  adaptiveAvgPool2dBackward(dy: Tensor, gradX: Tensor): void;

  // Losses and dropout (native/binding/loss.cc)
  crossEntropy(
    logits: Tensor,
    target: Tensor,
    ignoreIndex: number,
    smoothing: number,
    loss: Tensor,
    stats: Tensor,
  ): void;
  crossEntropyBackward(
    logits: Tensor,
    target: Tensor,
    stats: Tensor,
    weight: Tensor,
    scale: number,
    ignoreIndex: number,
    smoothing: number,
    grad: Tensor,
  ): void;
  squaredErrorSum(x: Tensor, y: Tensor): number;
  squaredError(x: Tensor, y: Tensor, out: Tensor): void;
  squaredErrorBackward(x: Tensor, y: Tensor, g: Tensor, scale: number, gx: Opt, gy: Opt): void;
  bceWithLogits(x: Tensor, y: Tensor, posWeight: Opt, posWeightScalar: number, out: Tensor): void;
  bceWithLogitsBackward(
    x: Tensor,
    y: Tensor,
    posWeight: Opt,
    posWeightScalar: number,
    g: Tensor,
    scale: number,
    gx: Opt,
    gy: Opt,
  ): void;
  dropout(x: Tensor, out: Tensor, mask: Tensor, p: number, seedHigh: number, seedLow: number): void;

  // Optimizers (native/binding/optim.cc)
  sgdUpdate(
    param: Tensor,
    grad: Tensor,
    momentumBuffer: Opt,
    lr: number,
    momentum: number,
    dampening: number,
    weightDecay: number,
    nesterov: boolean,
    maximize: boolean,
    first: boolean,
  ): void;
  adamUpdate(
    param: Tensor,
    grad: Tensor,
    expAvg: Tensor,
    expAvgSq: Tensor,
    maxExpAvgSq: Opt,
    lr: number,
    beta1: number,
    beta2: number,
    eps: number,
    weightDecay: number,
    decoupled: boolean,
    maximize: boolean,
    step: number,
  ): void;

  // Reductions, shapes, softmax
  sumDims(x: Tensor, dims: readonly number[], out: Tensor, scale: number): void;
  argmax(x: Tensor, dim: number, out: Tensor): void;
  copyRows(
    src: Tensor,
    srcOffset: number,
    srcStride: number,
    dst: Tensor,
    dstOffset: number,
    dstStride: number,
    rows: number,
    cols: number,
    accumulate: boolean,
  ): void;
  permute(x: Tensor, dims: readonly number[], out: Tensor): void;
  softmax(x: Tensor, dim: number, out: Tensor, log: boolean): void;
  softmaxBackward(y: Tensor, g: Tensor, dim: number, gx: Tensor, log: boolean): void;

  // Storage (native/binding/storage.cc, cuda_memory.cc)
  alignmentOffset(buffer: ArrayBuffer): number;
  addressAlignment(array: ArrayBufferView): number;
  release(array: Float32Array): void;
  memoryStats(): { allocated: number; peak: number; cached: number };
  releaseCachedScratch(): void;
  resetPeakMemory(): void;
  cudaAllocate(floats: number): CudaHandle;
  cudaRelease(handle: CudaHandle): void;
  cudaUpload(handle: CudaHandle, host: Float32Array): void;
  cudaDownload(handle: CudaHandle, host: Float32Array): void;
  cudaInfo(): { compiled: boolean; deviceCount: number; devices: string[] };

  // System (native/binding/system.cc, errors.cc)
  getNumThreads(): number;
  setNumThreads(n: number): void;
  isa(): { detected: Isa; active: Isa };
  setIsa(cap: Isa): void;
  buildInfo(): { cuda: boolean; debug: boolean };
  setErrorClasses(classes: Record<string, new (message: string) => Error>): void;
}

/** The names NativeApi declares, for the test that compares them with the addon's exports. */
export const NATIVE_API_NAMES: readonly (keyof NativeApi)[] = [
  'conv2d',
  'conv2dPackWeights',
  'packedWeightsInfo',
  'conv2dBackwardInput',
  'conv2dBackwardWeight',
  'channelSums',
  'addChannelBias',
  'deformConv2d',
  'deformConv2dGeometry',
  'deformConv2dPackWeights',
  'deformConv2dBackward',
  'dynamicConv2d',
  'dynamicConv2dBackward',
  'gemm',
  'linearPackWeight',
  'linearPacked',
  'linearPackedInfo',
  'unary',
  'unaryBackward',
  'binary',
  'fill',
  'addInPlace',
  'batchNorm2dForward',
  'batchNorm2dBackward',
  'gridSample2dForward',
  'gridSample2dBackward',
  'interpolate2dForward',
  'interpolate2dBackward',
  'maxPool2dForward',
  'maxPool2dBackward',
  'avgPool2dForward',
  'avgPool2dBackward',
  'adaptiveAvgPool2dForward',
  'adaptiveAvgPool2dBackward',
  'crossEntropy',
  'crossEntropyBackward',
  'squaredErrorSum',
  'squaredError',
  'squaredErrorBackward',
  'bceWithLogits',
  'bceWithLogitsBackward',
  'dropout',
  'sgdUpdate',
  'adamUpdate',
  'sumDims',
  'argmax',
  'copyRows',
  'permute',
  'softmax',
  'softmaxBackward',
  'alignmentOffset',
  'addressAlignment',
  'release',
  'memoryStats',
  'releaseCachedScratch',
  'resetPeakMemory',
  'cudaAllocate',
  'cudaRelease',
  'cudaUpload',
  'cudaDownload',
  'cudaInfo',
  'getNumThreads',
  'setNumThreads',
  'isa',
  'setIsa',
  'buildInfo',
  'setErrorClasses',
];
