/** Helpers for the in-place update loops. */
import { DeviceError } from '../errors';
import { Tensor } from '../tensor';

/** The Float32Arrays of CPU tensors, or a DeviceError naming the optimizer. */
export function hostData(where: string, ...tensors: Tensor[]): Float32Array[] {
  return tensors.map((t) => {
    if (t.device !== 'cpu') {
      throw new DeviceError(`${where}: parameters on ${t.device} are not supported yet; optimise a model on the CPU`);
    }
    return t.data;
  });
}
