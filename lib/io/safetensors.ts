/**
 * safetensors (https://github.com/huggingface/safetensors), the format PyTorch and Hugging Face
 * use for weights: an 8-byte little-endian header length N, N bytes of JSON
 *   { "<name>": { "dtype": "F32", "shape": [..], "data_offsets": [begin, end] }, ...,
 *     "__metadata__": { "<key>": "<string>" } }
 * then the raw little-endian tensor bytes, offsets relative to the end of the header.
 *
 * We write F32 only; we read F32, F16, BF16, F64 and the integer/bool types, converting to
 * float32. Writes are atomic: the bytes go to a temporary file in the same directory, are
 * fsynced, and the temporary file is renamed over the target, so a crash mid-write leaves
 * the previous file intact.
 *
 *   await saveSafetensors('ckpt.safetensors', model.stateDict(), { epoch: '3' });
 *   const { tensors, metadata } = loadSafetensors('ckpt.safetensors');
 */
import * as fs from 'node:fs';
import { checkBytes, expectOptionsObject } from '../check';
import { ArgumentError, describe, IoError } from '../errors';
import { Tensor } from '../tensor';
import { writeFileAtomic } from './atomic_write';

/** A tensor's values outside native memory (what parse returns and serialize accepts). */
export interface RawTensor {
  shape: number[];
  data: Float32Array;
}

export interface SafetensorsContent<T> {
  tensors: Record<string, T>;
  metadata: Record<string, string>;
}

/** Bytes per element of each dtype we can read. */
const DTYPE_BYTES: Record<string, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

/** Refuse headers larger than this (the reference implementation's limit is 100 MB). */
const MAX_HEADER = 100 * 1024 * 1024;

function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

function decode(dtype: string, bytes: Uint8Array, count: number): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(count);
  switch (dtype) {
    case 'F32':
      // Copy through a byte-aligned buffer: the data need not be 4-byte aligned in the file.
      new Uint8Array(out.buffer).set(bytes);
      if (!littleEndianHost) for (let i = 0; i < count; i++) out[i] = view.getFloat32(4 * i, true);
      break;
    case 'F64':
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(8 * i, true);
      break;
    case 'F16':
      for (let i = 0; i < count; i++) out[i] = f16ToF32(view.getUint16(2 * i, true));
      break;
    case 'BF16': {
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < count; i++) bits[i] = view.getUint16(2 * i, true) << 16;
      break;
    }
    case 'I64':
      for (let i = 0; i < count; i++) out[i] = Number(view.getBigInt64(8 * i, true));
      break;
    case 'I32':
      for (let i = 0; i < count; i++) out[i] = view.getInt32(4 * i, true);
      break;
    case 'I16':
      for (let i = 0; i < count; i++) out[i] = view.getInt16(2 * i, true);
      break;
    case 'I8':
      for (let i = 0; i < count; i++) out[i] = view.getInt8(i);
      break;
    default: // U8, BOOL
      for (let i = 0; i < count; i++) out[i] = bytes[i];
  }
  return out;
}

const littleEndianHost = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Parses a safetensors file's bytes; `file` only names the source in error messages. */
export function parseSafetensors(bytes: Uint8Array, file = '<buffer>'): SafetensorsContent<RawTensor> {
  checkBytes('parseSafetensors', bytes);
  const fail = (why: string): never => {
    throw new IoError(`${file}: not a valid safetensors file: ${why}`);
  };
  if (bytes.length < 8) fail(`${bytes.length} bytes, shorter than the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(view.getBigUint64(0, true));
  if (n > MAX_HEADER) fail(`header length ${n} is larger than ${MAX_HEADER} bytes`);
  if (8 + n > bytes.length)
    fail(`truncated: the header needs ${n} bytes but only ${bytes.length - 8} follow the length`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    fail(`the header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) fail('the header is not a JSON object');
  const body = bytes.subarray(8 + n);
  const metadata: Record<string, string> = {};
  const tensors: Record<string, RawTensor> = {};
  const ranges: [number, number, string][] = [];
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (entry === null || typeof entry !== 'object') fail('__metadata__ is not an object');
      for (const [k, v] of Object.entries(entry as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`__metadata__.${k} is not a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (e === null || typeof e !== 'object') fail(`entry '${name}' is not an object`);
    if (typeof e.dtype !== 'string' || !(e.dtype in DTYPE_BYTES)) {
      fail(`tensor '${name}' has dtype ${JSON.stringify(e.dtype)}; supported: ${Object.keys(DTYPE_BYTES).join(', ')}`);
    }
    const dtype = e.dtype as string;
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isInteger(d) && d >= 0)) {
      fail(`tensor '${name}' has shape ${JSON.stringify(e.shape)}, not an array of non-negative integers`);
    }
    const shape = e.shape as number[];
    const offsets = e.data_offsets;
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => Number.isInteger(o) && o >= 0) ||
      offsets[0] > offsets[1]
    ) {
      fail(`tensor '${name}' has data_offsets ${JSON.stringify(offsets)}, not a pair [begin, end] with begin <= end`);
    }
    const [begin, end] = offsets as [number, number];
    const count = shape.reduce((a, b) => a * b, 1);
    if (end - begin !== count * DTYPE_BYTES[dtype]) {
      fail(
        `tensor '${name}' of shape [${shape.join(', ')}] ${dtype} needs ${count * DTYPE_BYTES[dtype]} bytes but data_offsets span ${end - begin}`,
      );
    }
    if (end > body.length)
      fail(`truncated: tensor '${name}' ends at byte ${end} of the data but the data has ${body.length} bytes`);
    ranges.push([begin, end, name]);
    tensors[name] = { shape: [...shape], data: decode(dtype, body.subarray(begin, end), count) };
  }
  // The format requires the tensors to tile the data exactly: no overlaps, no holes.
  ranges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let at = 0;
  for (const [begin, end, name] of ranges) {
    if (begin !== at)
      fail(`tensor '${name}' starts at byte ${begin} of the data but the previous one ends at ${at} (overlap or hole)`);
    at = end;
  }
  if (at !== body.length) fail(`the data has ${body.length} bytes but the tensors cover ${at}`);
  return { tensors, metadata };
}

function toRaw(where: string, name: string, value: unknown): RawTensor {
  if (value instanceof Tensor) {
    return { shape: [...value.shape], data: value.device === 'cpu' ? value.data : Float32Array.from(value.toArray()) };
  }
  const v = value as RawTensor;
  if (v && typeof v === 'object' && Array.isArray(v.shape) && v.data instanceof Float32Array) {
    const count = v.shape.reduce((a, b) => a * b, 1);
    if (count !== v.data.length) {
      throw new ArgumentError(
        `${where}: tensor '${name}' has shape [${v.shape.join(', ')}] but ${v.data.length} values`,
      );
    }
    return v;
  }
  throw new ArgumentError(
    `${where}: expected tensors['${name}'] to be a Tensor or { shape, data: Float32Array } but received ${describe(value)}`,
  );
}

export interface SerializeOptions {
  /**
   * Names of tensors to store as I64 (their values must be integers), as PyTorch stores
   * BatchNorm's num_batches_tracked; every other tensor is F32.
   */
  int64?: (name: string) => boolean;
}

/** Tensors PyTorch keeps as int64 in a module's state dict. */
export const isInt64StateKey = (name: string): boolean =>
  name === 'num_batches_tracked' || name.endsWith('.num_batches_tracked');

/** The bytes of a safetensors file holding `tensors` as F32 or I64 (names sorted, header padded to 8 bytes). */
export function serializeSafetensors(
  tensors: Record<string, Tensor | RawTensor> | Map<string, Tensor | RawTensor>,
  metadata: Record<string, string> = {},
  options: SerializeOptions = {},
): Uint8Array {
  const where = 'serializeSafetensors';
  if (tensors === null || typeof tensors !== 'object') {
    throw new ArgumentError(
      `${where}: expected tensors to be an object or Map of named tensors but received ${describe(tensors)}`,
    );
  }
  expectOptionsObject(where, options);
  const entries = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const header: Record<string, unknown> = {};
  if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) {
    throw new ArgumentError(
      `${where}: expected metadata to be an object of strings but received ${describe(metadata)}`,
    );
  }
  if (Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string')
        throw new ArgumentError(`${where}: expected metadata['${k}'] to be a string but received ${describe(v)}`);
    }
    header.__metadata__ = metadata;
  }
  const raws: { raw: RawTensor; int64: boolean }[] = [];
  let offset = 0;
  for (const [name, value] of entries) {
    if (name === '__metadata__')
      throw new ArgumentError(`${where}: '__metadata__' is reserved and cannot name a tensor`);
    const raw = toRaw(where, name, value);
    const int64 = options.int64?.(name) ?? false;
    if (int64 && !raw.data.every((v) => Number.isInteger(v))) {
      throw new ArgumentError(
        `${where}: expected tensor '${name}' (stored as I64) to hold integers but received non-integer values`,
      );
    }
    raws.push({ raw, int64 });
    const bytes = raw.data.length * (int64 ? 8 : 4);
    header[name] = { dtype: int64 ? 'I64' : 'F32', shape: raw.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  // Pad with spaces so the data starts 8-byte aligned, as the reference writer does.
  const jsonBytes = Buffer.byteLength(json, 'utf-8');
  json += ' '.repeat((8 - ((8 + jsonBytes) % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf-8');
  const out = new Uint8Array(8 + headerBytes.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const { raw, int64 } of raws) {
    if (int64) {
      for (let i = 0; i < raw.data.length; i++) view.setBigInt64(at + 8 * i, BigInt(raw.data[i]), true);
      at += raw.data.length * 8;
      continue;
    }
    if (littleEndianHost) out.set(new Uint8Array(raw.data.buffer, raw.data.byteOffset, raw.data.byteLength), at);
    else for (let i = 0; i < raw.data.length; i++) view.setFloat32(at + 4 * i, raw.data[i], true);
    at += raw.data.byteLength;
  }
  return out;
}

/** Saves `tensors` (F32, or I64 where options.int64 says) and string `metadata` to `file` atomically. */
export function saveSafetensors(
  file: string,
  tensors: Record<string, Tensor | RawTensor> | Map<string, Tensor | RawTensor>,
  metadata: Record<string, string> = {},
  options: SerializeOptions = {},
): void {
  if (typeof file !== 'string' || file.length === 0) {
    throw new ArgumentError(`saveSafetensors: expected file to be a non-empty string but received ${describe(file)}`);
  }
  writeFileAtomic(file, serializeSafetensors(tensors, metadata, options));
}

/** Reads a safetensors file's tensors as raw float32 arrays. */
export function readSafetensors(file: string): SafetensorsContent<RawTensor> {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new IoError(`cannot read ${file}: ${err.code === 'ENOENT' ? 'the file does not exist' : err.message}`);
  }
  return parseSafetensors(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), file);
}

/** Reads a safetensors file into CPU Tensors. */
export function loadSafetensors(file: string): SafetensorsContent<Tensor> {
  const { tensors, metadata } = readSafetensors(file);
  const out: Record<string, Tensor> = {};
  for (const [name, raw] of Object.entries(tensors)) out[name] = Tensor.from(raw.data, raw.shape);
  return { tensors: out, metadata };
}
