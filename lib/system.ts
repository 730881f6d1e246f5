/** Process-wide settings of the native backend: threads, instruction set, memory, CUDA. */
import { checkInt, checkOneOf } from './check';
import { native } from './native';
import { cachedBytes } from './storage_pool';
import { tensorBytes } from './tensor';

export { emptyCache } from './storage_pool';

export function getNumThreads(): number {
  return native().getNumThreads() as number;
}

/** Threads used by CPU kernels (default: FLEXCONV_NUM_THREADS, else all cores). */
export function setNumThreads(n: number): void {
  native().setNumThreads(checkInt('setNumThreads', 'n', n, 1));
}

export type Isa = 'avx512' | 'avx2' | 'portable';

/** The CPU's best instruction set, and the one kernels use now. */
export function isa(): { detected: Isa; active: Isa } {
  return native().isa() as { detected: Isa; active: Isa };
}

const ISA_ORDER: readonly Isa[] = ['portable', 'avx2', 'avx512'];

/**
 * Caps the kernels' instruction set (tests use it to cover the AVX2 and portable paths).
 * Throws for an instruction set this CPU (or this build) does not have.
 */
export function setIsa(cap: Isa): void {
  native().setIsa(checkOneOf('setIsa', 'cap', cap, ['avx512', 'avx2', 'portable'] as const));
}

/** Every instruction set setIsa accepts here, lowest first (always includes 'portable'). */
export function availableIsas(): Isa[] {
  return ISA_ORDER.slice(0, ISA_ORDER.indexOf(isa().detected) + 1);
}

export interface MemoryStats {
  /** Kernel scratch memory (packing buffers, sampling plans) in use now, in bytes. */
  allocated: number;
  /** The most kernel scratch memory in use at once since resetPeakMemory(). */
  peak: number;
  /**
   * Live CPU tensor storage in bytes: not disposed and not yet reclaimed by the garbage
   * collector (see tensorBytes()).
   */
  tensorBytes: number;
  /** Memory kept for reuse: disposed tensors' storage and freed kernel scratch (see emptyCache()). */
  cachedBytes: number;
}

export function memoryStats(): MemoryStats {
  const scratch = native().memoryStats() as { allocated: number; peak: number; cached: number };
  return {
    allocated: scratch.allocated,
    peak: scratch.peak,
    tensorBytes: tensorBytes(),
    cachedBytes: cachedBytes() + scratch.cached,
  };
}

export function resetPeakMemory(): void {
  native().resetPeakMemory();
}

export const cuda = {
  /** True when the addon was built with CUDA and a device is present. */
  isAvailable(): boolean {
    const info = native().cudaInfo() as { compiled: boolean; deviceCount: number };
    return info.compiled && info.deviceCount > 0;
  },
  /** Whether the CUDA backend was compiled into this build at all. */
  isCompiled(): boolean {
    return (native().cudaInfo() as { compiled: boolean }).compiled;
  },
  deviceCount(): number {
    return (native().cudaInfo() as { deviceCount: number }).deviceCount;
  },
  deviceNames(): string[] {
    return (native().cudaInfo() as { devices: string[] }).devices;
  },
};
