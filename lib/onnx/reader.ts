/**
 * A small ONNX ModelProto reader: decodes the parts an exported file is checked on (opset
 * imports, nodes, initializers, graph inputs/outputs) and `checkOnnxModel()` lists structural
 * problems: inputs used before they are defined, missing opset imports, initializers whose
 * dims disagree with their data, outputs nobody produces.
 */
import { OnnxError } from '../errors';

export interface OnnxNodeInfo {
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  name: string;
}

export interface OnnxInitializerInfo {
  name: string;
  dims: number[];
  dataType: number;
  /** Number of values the stored data holds. */
  valueCount: number;
  float?: Float32Array;
}

export interface OnnxModelInfo {
  irVersion: number;
  opsetImports: { domain: string; version: number }[];
  nodes: OnnxNodeInfo[];
  initializers: OnnxInitializerInfo[];
  inputs: string[];
  outputs: string[];
}

type Field = { field: number; wire: number; value: number | Uint8Array };

function* fields(buf: Uint8Array): Generator<Field> {
  let pos = 0;
  const varint = (): number => {
    let result = 0,
      mul = 1,
      b: number;
    do {
      if (pos >= buf.length) throw new OnnxError('readOnnxModel: truncated varint');
      b = buf[pos++];
      result += (b & 0x7f) * mul;
      mul *= 128;
    } while (b & 0x80);
    return result;
  };
  while (pos < buf.length) {
    const key = varint();
    const field = Math.floor(key / 8),
      wire = key & 7;
    if (wire === 0) yield { field, wire, value: varint() };
    else if (wire === 2) {
      const len = varint();
      if (pos + len > buf.length) throw new OnnxError(`readOnnxModel: field ${field} runs past the end of its message`);
      yield { field, wire, value: buf.subarray(pos, pos + len) };
      pos += len;
    } else if (wire === 5) {
      yield { field, wire, value: buf.subarray(pos, pos + 4) };
      pos += 4;
    } else if (wire === 1) {
      yield { field, wire, value: buf.subarray(pos, pos + 8) };
      pos += 8;
    } else throw new OnnxError(`readOnnxModel: unsupported wire type ${wire} for field ${field}`);
  }
}

const text = (v: number | Uint8Array): string => new TextDecoder().decode(v as Uint8Array);

function packedVarints(v: number | Uint8Array): number[] {
  if (typeof v === 'number') return [v];
  const out: number[] = [];
  for (const f of fields(prefixAsVarints(v))) out.push(f.value as number);
  return out;
}

/** Re-frames packed varints as field-1 varints so fields() can decode them. */
function prefixAsVarints(bytes: Uint8Array): Uint8Array {
  const out: number[] = [];
  let i = 0;
  while (i < bytes.length) {
    out.push(8);
    do out.push(bytes[i]);
    while (bytes[i++] & 0x80 && i < bytes.length);
  }
  return Uint8Array.from(out);
}

function readTensor(buf: Uint8Array): OnnxInitializerInfo {
  const t: OnnxInitializerInfo = { name: '', dims: [], dataType: 0, valueCount: 0 };
  for (const f of fields(buf)) {
    if (f.field === 1) t.dims.push(...packedVarints(f.value));
    else if (f.field === 2) t.dataType = f.value as number;
    else if (f.field === 8) t.name = text(f.value);
    else if (f.field === 9) {
      const raw = f.value as Uint8Array;
      const size = t.dataType === 7 ? 8 : 4;
      t.valueCount += raw.length / size;
      if (t.dataType !== 7) t.float = new Float32Array(raw.slice().buffer);
    } else if (f.field === 7) t.valueCount += packedVarints(f.value).length;
    else if (f.field === 4) t.valueCount += typeof f.value === 'number' ? 1 : (f.value as Uint8Array).length / 4;
  }
  return t;
}

function readNode(buf: Uint8Array): OnnxNodeInfo {
  const n: OnnxNodeInfo = { opType: '', domain: '', inputs: [], outputs: [], name: '' };
  for (const f of fields(buf)) {
    if (f.field === 1) n.inputs.push(text(f.value));
    else if (f.field === 2) n.outputs.push(text(f.value));
    else if (f.field === 3) n.name = text(f.value);
    else if (f.field === 4) n.opType = text(f.value);
    else if (f.field === 7) n.domain = text(f.value);
  }
  return n;
}

function valueInfoName(buf: Uint8Array): string {
  for (const f of fields(buf)) if (f.field === 1) return text(f.value);
  return '';
}

export function readOnnxModel(bytes: Uint8Array): OnnxModelInfo {
  const info: OnnxModelInfo = { irVersion: 0, opsetImports: [], nodes: [], initializers: [], inputs: [], outputs: [] };
  for (const f of fields(bytes)) {
    if (f.field === 1) info.irVersion = f.value as number;
    else if (f.field === 8) {
      let domain = '',
        version = 0;
      for (const g of fields(f.value as Uint8Array)) {
        if (g.field === 1) domain = text(g.value);
        else if (g.field === 2) version = g.value as number;
      }
      info.opsetImports.push({ domain, version });
    } else if (f.field === 7) {
      for (const g of fields(f.value as Uint8Array)) {
        const v = g.value as Uint8Array;
        if (g.field === 1) info.nodes.push(readNode(v));
        else if (g.field === 5) info.initializers.push(readTensor(v));
        else if (g.field === 11) info.inputs.push(valueInfoName(v));
        else if (g.field === 12) info.outputs.push(valueInfoName(v));
      }
    }
  }
  return info;
}

/** Structural problems of a model (empty when it is well-formed). */
export function checkOnnxModel(bytes: Uint8Array): string[] {
  const m = readOnnxModel(bytes);
  const problems: string[] = [];
  const domains = new Set(m.opsetImports.map((o) => (o.domain === 'ai.onnx' ? '' : o.domain)));
  if (!domains.has('')) problems.push('no opset import for the default domain');
  const defined = new Set<string>([...m.inputs]);
  for (const t of m.initializers) {
    const count = t.dims.reduce((a, b) => a * b, 1);
    if (count !== t.valueCount)
      problems.push(`initializer '${t.name}' has dims [${t.dims.join(', ')}] but ${t.valueCount} values`);
    if (defined.has(t.name)) problems.push(`'${t.name}' is defined twice`);
    defined.add(t.name);
  }
  m.nodes.forEach((n, i) => {
    if (!domains.has(n.domain))
      problems.push(`node #${i} (${n.opType}) uses domain '${n.domain}' without an opset import`);
    for (const input of n.inputs) {
      if (input !== '' && !defined.has(input))
        problems.push(`node #${i} (${n.opType}) reads '${input}' before it is defined`);
    }
    for (const o of n.outputs) {
      if (defined.has(o)) problems.push(`'${o}' is defined twice`);
      defined.add(o);
    }
  });
  for (const o of m.outputs) if (!defined.has(o)) problems.push(`graph output '${o}' is never produced`);
  return problems;
}
