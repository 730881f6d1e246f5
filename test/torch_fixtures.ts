/**
 * Golden fixtures from the real PyTorch 1.13 / torchvision 0.14, written by
 * scripts/fixtures/generate_torch_fixtures.py (`npm run fixtures`) into test/fixtures/torch/:
 * inputs exactly representable in float32, outputs and gradients computed in float64.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Tensor } from '../lib';

export const FIXTURE_DIR = path.join(__dirname, 'fixtures', 'torch');

export interface FixtureTensor {
  shape: number[];
  data: Float64Array;
}

export interface FixtureCase {
  name: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- per-family argument objects
  args: Record<string, any>;
  tensors: Record<string, FixtureTensor>;
}

interface RawTensor {
  shape: number[];
  f64: string;
}

function decode(raw: RawTensor): FixtureTensor {
  const bytes = Buffer.from(raw.f64, 'base64');
  const data = new Float64Array(bytes.length / 8);
  for (let i = 0; i < data.length; i++) data[i] = bytes.readDoubleLE(8 * i);
  const count = raw.shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) throw new Error(`fixture tensor of shape [${raw.shape}] holds ${data.length} values`);
  return { shape: raw.shape, data };
}

/** The cases of test/fixtures/torch/<family>.json. */
export function loadFixtures(family: string): FixtureCase[] {
  const file = path.join(FIXTURE_DIR, `${family}.json`);
  const json = JSON.parse(fs.readFileSync(file, 'utf8')) as {
    cases: { name: string; args: Record<string, unknown>; tensors: Record<string, RawTensor> }[];
  };
  return json.cases.map((c) => ({
    name: c.name,
    args: c.args,
    tensors: Object.fromEntries(Object.entries(c.tensors).map(([k, v]) => [k, decode(v)])),
  }));
}

/** The fixture tensor as a float32 Tensor (exact: the generator draws float32 values). */
export function toTensor(t: FixtureTensor, requiresGrad = false): Tensor {
  const out = Tensor.from(Float32Array.from(t.data), t.shape);
  return requiresGrad ? out.requireGrad() : out;
}

/**
 * Asserts a float32 result matches torch's float64 one: |a - e| <= rtol * (|e| + 0.1 * max|e|)
 * everywhere. The second term bounds the float32 rounding of sums whose terms cancel (an
 * element near 0 made of terms the size of the tensor's largest); 1e-4 relative overall.
 * NaN and infinities must match exactly. Reports the first mismatches with their indices.
 */
export function expectMatchesFixture(actual: Tensor | null, expected: FixtureTensor, label: string, rtol = 1e-4): void {
  if (!actual) throw new Error(`${label}: no tensor computed (expected shape [${expected.shape}])`);
  expect({ label, shape: actual.shape }).toEqual({ label, shape: expected.shape });
  const a = actual.toArray();
  const e = expected.data;
  let scale = 0;
  for (let i = 0; i < e.length; i++) if (Number.isFinite(e[i]) && Math.abs(e[i]) > scale) scale = Math.abs(e[i]);
  const bad: string[] = [];
  for (let i = 0; i < e.length; i++) {
    if (!Number.isFinite(e[i])) {
      if (!Object.is(a[i], e[i])) bad.push(`[${i}] ${a[i]} vs ${e[i]}`);
      continue;
    }
    const tol = rtol * (Math.abs(e[i]) + 0.1 * scale);
    if (!(Math.abs(a[i] - e[i]) <= tol)) bad.push(`[${i}] ${a[i]} vs ${e[i]}`);
  }
  if (bad.length) {
    throw new Error(
      `${label}: ${bad.length} of ${e.length} entries differ from torch (rtol ${rtol}): ${bad.slice(0, 8).join(', ')}`,
    );
  }
}
