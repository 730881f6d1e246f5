/**
 * Conv weights packed once into the CPU GEMM's layout for many forwards (inference): packing
 * costs a pass over the weight per call, as much as the multiplication itself for one small
 * image. lib/nn/fold.ts packs the batch-norm-folded weights of plain and deformable convs.
 * conv2d and deformConv2d pack in different orders, so a handle says which op it was made for
 * and the other op refuses it (native code checks the same).
 */
import { checkInt, expectNdim, shapeString } from '../check';
import { ArgumentError, describe, DeviceError, ShapeError } from '../errors';
import { native } from '../native';
import { Tensor } from '../tensor';
import { checkTensor } from './validate';

export type PackedWeightOp = 'conv2d' | 'deformConv2d';

/** A CPU conv weight packed once for many forwards; holds its own copy. */
export class PackedConv2dWeight {
  /** @internal the native handle (freed with this object). */
  constructor(
    readonly handle: object,
    readonly shape: readonly number[],
    readonly groups: number,
    /** The op whose `packed` option takes it. */
    readonly op: PackedWeightOp = 'conv2d',
  ) {}

  /** Bytes of packed floats the handle holds (the Winograd copy included). */
  get bytes(): number {
    return native().packedWeightsInfo(this.handle).bytes;
  }

  /**
   * Whether the handle also holds the Winograd F(2x2, 3x3) form of the weight (3x3, one group,
   * at least 32 input and output channels, finite values, an AVX-512 CPU): conv2dFused then runs
   * stride-1, dilation-1 calls with enough 2x2 output tiles by Winograd's algorithm, 2.25x fewer
   * multiplications, rounding differences of about 1e-6 of the output's scale.
   */
  get winograd(): boolean {
    return native().packedWeightsInfo(this.handle).winograd;
  }
}

const MAKERS: Record<PackedWeightOp, string> = { conv2d: 'packConv2dWeight', deformConv2d: 'packDeformConv2dWeight' };

function pack(where: string, op: PackedWeightOp, weight: Tensor, groups: number): PackedConv2dWeight {
  checkTensor(where, 'weight', weight);
  expectNdim(where, 'weight', weight.shape, 4);
  if (weight.device !== 'cpu')
    throw new DeviceError(`${where}: expected weight on the CPU but received a ${weight.device} tensor`);
  checkInt(where, 'groups', groups, 1);
  if (weight.shape[0] % groups !== 0)
    throw new ShapeError(`${where}: expected groups (${groups}) to divide the ${weight.shape[0]} output channels`);
  const handle =
    op === 'conv2d' ? native().conv2dPackWeights(weight, groups) : native().deformConv2dPackWeights(weight, groups);
  return new PackedConv2dWeight(handle as object, [...weight.shape], groups, op);
}

/**
 * Packs a CPU conv weight ([O, C/groups, kh, kw]) for conv2dFused's `packed`. The handle keeps
 * a copy, so later changes to `weight` do not reach it: pack again after them (lib/nn/fold.ts
 * does).
 */
export function packConv2dWeight(weight: Tensor, groups = 1): PackedConv2dWeight {
  return pack('packConv2dWeight', 'conv2d', weight, groups);
}

/** Packs a CPU deformable conv weight ([O, C/groups, kh, kw]) for deformConv2d's `packed`. */
export function packDeformConv2dWeight(weight: Tensor, groups = 1): PackedConv2dWeight {
  return pack('packDeformConv2dWeight', 'deformConv2d', weight, groups);
}

/**
 * The `packed` option of `op` checked against the weight it must have been packed from (same
 * shape and groups, made for this op); null when absent.
 * @internal
 */
export function checkPackedWeight(
  where: string,
  op: PackedWeightOp,
  packed: unknown,
  weight: Tensor,
  groups: number,
): PackedConv2dWeight | null {
  if (packed === undefined || packed === null) return null;
  if (!(packed instanceof PackedConv2dWeight) || packed.op !== op) {
    throw new ArgumentError(
      `${where}: expected packed to be a PackedConv2dWeight from ${MAKERS[op]} but received ${
        packed instanceof PackedConv2dWeight ? `one from ${MAKERS[packed.op]}` : describe(packed)
      }`,
    );
  }
  if (packed.groups !== groups || packed.shape.some((d, i) => d !== weight.shape[i])) {
    throw new ShapeError(
      `${where}: expected packed to be ${MAKERS[op]} of a weight ${shapeString(weight.shape)} with groups ${groups} but received one of ${shapeString(packed.shape)} with groups ${packed.groups}`,
    );
  }
  if (weight.device !== 'cpu')
    throw new DeviceError(`${where}: packed weights run on the CPU only but weight is a ${weight.device} tensor`);
  return packed;
}
