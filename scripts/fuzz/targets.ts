/**
 * The fuzzed surface: every public op family, layer constructor, model builder, reader and
 * ONNX loader, each as a builder of a plausible call whose arguments one or two mutations then
 * spoil. `certain` marks calls that must not succeed (a Tensor slot given a non-Tensor, an
 * unknown option key): returning normally from one is a silent acceptance.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as data from '../../lib/data';
import * as models from '../../lib/models';
import * as nn from '../../lib/nn';
import { exportOnnx } from '../../lib/onnx/export';
import { OnnxModel } from '../../lib/onnx/model';
import * as ops from '../../lib/ops';
import { parseSafetensors, serializeSafetensors } from '../../lib/io/safetensors';
import { Generator } from '../../lib/random';
import { Tensor } from '../../lib/tensor';
import { badTensorArg, badValue, Mutation, pick, size, tensor } from './values';

export interface Call {
  target: string;
  run: () => unknown;
  /** The call is invalid for sure (see the file comment). */
  certain: boolean;
  /** The arguments, to print when reproducing a case. */
  args?: unknown[];
}

type Args = unknown[];

/** A harness-side index from a possibly mutated value (the harness must never throw itself). */
function which(v: unknown, n: number): number {
  return typeof v === 'number' && Number.isFinite(v) ? Math.abs(Math.trunc(v)) % n : 0;
}

interface Target {
  name: string;
  /** Positional arguments of a valid call; `tensors` lists the positions that hold Tensors. */
  build(g: Generator): { args: Args; tensors: number[]; options?: number };
  call(args: Args): unknown;
  /** The options object reaches a function that refuses unknown keys (not a wrapper that picks from it). */
  strictOptions?: boolean;
}

const conv = (g: Generator) => {
  const n = size(g, 2),
    c = size(g, 4),
    h = size(g, 8),
    w = size(g, 8),
    o = size(g, 4),
    k = 1 + g.int(3);
  const ok = [n, c, h, w, o].every((v) => Number.isInteger(v) && v >= 0 && v < 64);
  const x = ok ? tensor(g, [n, c, h, w]) : tensor(g, [1, 2, 5, 5]);
  const wt = ok ? tensor(g, [o, c, k, k]) : tensor(g, [3, 2, 3, 3]);
  return {
    x,
    wt,
    o: ok ? o : 3,
    k,
    opts: { stride: size(g, 3), padding: g.int(3), dilation: 1 + g.int(2), groups: 1 },
  };
};

/** A 3x3, padding-1 deformable conv's operands (2 outputs), offsets and mask sized for its output. */
function deformOperands(g: Generator) {
  const n = 1 + g.int(2),
    c = 1 + g.int(3),
    h = 1 + g.int(6),
    w = 1 + g.int(6),
    stride = size(g, 2);
  const [oh, ow] = [Math.floor((h - 1) / stride) + 1, Math.floor((w - 1) / stride) + 1];
  return {
    input: tensor(g, [n, c, h, w]),
    offset: tensor(g, [n, 18, oh, ow]),
    weight: tensor(g, [2, c, 3, 3]),
    mask: g.uniform() < 0.5 ? tensor(g, [n, 9, oh, ow]) : null,
    stride,
    outShape: [n, 2, oh, ow],
  };
}

const TARGETS: Target[] = [
  {
    name: 'ops.conv2d',
    strictOptions: true,
    build: (g) => {
      const c = conv(g);
      return {
        args: [c.x, c.wt, { ...c.opts, bias: g.uniform() < 0.5 ? tensor(g, [c.o]) : null }],
        tensors: [0, 1],
        options: 2,
      };
    },
    call: (a) => ops.conv2d(a[0] as Tensor, a[1] as Tensor, a[2] as ops.Conv2dOptions),
  },
  {
    name: 'ops.conv2dFused',
    strictOptions: true,
    build: (g) => {
      const c = conv(g);
      return { args: [c.x, c.wt, { ...c.opts, relu: g.uniform() < 0.5 }], tensors: [0, 1], options: 2 };
    },
    call: (a) => ops.conv2dFused(a[0] as Tensor, a[1] as Tensor, a[2] as ops.Conv2dFusedOptions),
  },
  {
    name: 'ops.convTranspose2d',
    strictOptions: true,
    build: (g) => {
      const c = conv(g);
      return {
        args: [
          c.x,
          tensor(g, [c.x.shape[1], 2, 3, 3]),
          { stride: size(g, 3), padding: g.int(2), outputPadding: g.int(2) },
        ],
        tensors: [0, 1],
        options: 2,
      };
    },
    call: (a) => ops.convTranspose2d(a[0] as Tensor, a[1] as Tensor, a[2] as ops.ConvTranspose2dOptions),
  },
  {
    name: 'ops.deformConv2d',
    strictOptions: true,
    build: (g) => {
      const d = deformOperands(g);
      return {
        args: [d.input, d.offset, d.weight, { padding: 1, mask: d.mask, stride: d.stride }],
        tensors: [0, 1, 2],
        options: 3,
      };
    },
    call: (a) => ops.deformConv2d(a[0] as Tensor, a[1] as Tensor, a[2] as Tensor, a[3] as ops.DeformConv2dOptions),
  },
  {
    name: 'ops.deformConv2dFused',
    strictOptions: true,
    build: (g) => {
      const d = deformOperands(g);
      const residual = g.uniform() < 0.7 ? tensor(g, d.outShape) : null;
      return {
        args: [
          d.input,
          d.offset,
          d.weight,
          { padding: 1, mask: d.mask, stride: d.stride, residual, relu: g.uniform() < 0.5 },
        ],
        tensors: [0, 1, 2],
        options: 3,
      };
    },
    call: (a) =>
      ops.deformConv2dFused(a[0] as Tensor, a[1] as Tensor, a[2] as Tensor, a[3] as ops.DeformConv2dFusedOptions),
  },
  {
    name: 'ops.dynamicConv2d',
    strictOptions: true,
    build: (g) => {
      const b = 1 + g.int(3),
        c = 1 + g.int(3),
        k = 1 + g.int(3);
      return {
        args: [tensor(g, [b, c, 5, 5]), tensor(g, [k, 2, c, 3, 3]), tensor(g, [b, k]), { padding: g.int(2) }],
        tensors: [0, 1, 2],
        options: 3,
      };
    },
    call: (a) => ops.dynamicConv2d(a[0] as Tensor, a[1] as Tensor, a[2] as Tensor, a[3] as ops.DynamicConv2dOptions),
  },
  {
    name: 'ops.gridSample',
    strictOptions: true,
    build: (g) => {
      const n = 1 + g.int(2);
      return {
        args: [
          tensor(g, [n, 2, 4, 5]),
          tensor(g, [n, 3, 3, 2]),
          {
            mode: pick(g, ['bilinear', 'nearest', 'bicubic']),
            paddingMode: pick(g, ['zeros', 'border', 'reflection']),
            alignCorners: g.uniform() < 0.5,
          },
        ],
        tensors: [0, 1],
        options: 2,
      };
    },
    call: (a) => ops.gridSample(a[0] as Tensor, a[1] as Tensor, a[2] as ops.GridSampleOptions),
  },
  {
    name: 'ops.interpolate',
    strictOptions: true,
    build: (g) => ({
      args: [
        tensor(g, [1, 2, 4, 4]),
        g.uniform() < 0.5 ? { size: size(g, 9) } : { scaleFactor: pick(g, [0.5, 2, 3, 1e-9, 1e9]) },
      ],
      tensors: [0],
      options: 1,
    }),
    call: (a) => ops.interpolate(a[0] as Tensor, a[1] as ops.InterpolateOptions),
  },
  {
    name: 'ops.maxPool2d',
    strictOptions: true,
    build: (g) => ({
      args: [
        tensor(g, [1, 2, 1 + g.int(8), 1 + g.int(8)]),
        { kernelSize: size(g, 4), stride: size(g, 3), padding: g.int(3), ceilMode: g.uniform() < 0.5 },
      ],
      tensors: [0],
      options: 1,
    }),
    call: (a) => ops.maxPool2d(a[0] as Tensor, a[1] as ops.MaxPool2dOptions),
  },
  {
    name: 'ops.avgPool2d',
    strictOptions: true,
    build: (g) => ({
      args: [
        tensor(g, [2, 1, 1 + g.int(8), 1 + g.int(8)]),
        { kernelSize: size(g, 4), stride: size(g, 3), padding: g.int(3) },
      ],
      tensors: [0],
      options: 1,
    }),
    call: (a) => ops.avgPool2d(a[0] as Tensor, a[1] as ops.AvgPool2dOptions),
  },
  {
    name: 'ops.adaptiveAvgPool2d',
    build: (g) => ({ args: [tensor(g, [1, 2, 1 + g.int(6), 1 + g.int(6)]), size(g, 4)], tensors: [0] }),
    call: (a) => ops.adaptiveAvgPool2d(a[0] as Tensor, a[1] as number),
  },
  {
    name: 'ops.batchNorm2d',
    strictOptions: true,
    build: (g) => ({
      args: [
        tensor(g, [2, 3, 2, 2]),
        tensor(g, [3]),
        Tensor.ones([3]),
        tensor(g, [3]),
        tensor(g, [3]),
        { training: g.uniform() < 0.5, momentum: 0.1, eps: 1e-5 },
      ],
      tensors: [0],
      options: 5,
    }),
    call: (a) =>
      ops.batchNorm2d(
        a[0] as Tensor,
        a[1] as Tensor,
        a[2] as Tensor,
        a[3] as Tensor,
        a[4] as Tensor,
        a[5] as ops.BatchNormOptions,
      ),
  },
  {
    name: 'ops.matmul',
    build: (g) => {
      const m = size(g, 5),
        k = size(g, 5),
        n = size(g, 5);
      const ok = [m, k, n].every((v) => Number.isInteger(v) && v >= 0 && v < 64);
      return {
        args: ok ? [tensor(g, [m, k]), tensor(g, [k, n])] : [tensor(g, [2, 3]), tensor(g, [3, 2])],
        tensors: [0, 1],
      };
    },
    call: (a) => ops.matmul(a[0] as Tensor, a[1] as Tensor),
  },
  {
    name: 'ops.linear',
    strictOptions: true,
    build: (g) => {
      const w = tensor(g, [5, 4]);
      return {
        args: [
          tensor(g, [3, 4]),
          w,
          g.uniform() < 0.5 ? tensor(g, [5]) : null,
          { packed: g.uniform() < 0.5 ? ops.packLinearWeight(w) : null },
        ],
        tensors: [0, 1],
        options: 3,
      };
    },
    call: (a) => ops.linear(a[0] as Tensor, a[1] as Tensor, a[2] as Tensor | null, a[3] as ops.LinearOptions),
  },
  {
    name: 'ops.crossEntropy',
    strictOptions: true,
    build: (g) => ({
      args: [
        tensor(g, [4, 3]),
        Tensor.from([0, 1, 2, g.int(3)], [4]),
        { labelSmoothing: pick(g, [0, 0.1]), ignoreIndex: -100 },
      ],
      tensors: [0, 1],
      options: 2,
    }),
    call: (a) => ops.crossEntropy(a[0] as Tensor, a[1] as Tensor, a[2] as ops.CrossEntropyOptions),
  },
  {
    name: 'ops.softmax',
    build: (g) => ({ args: [tensor(g, [2, 3, 4]), g.int(3)], tensors: [0] }),
    call: (a) => ops.softmax(a[0] as Tensor, a[1] as number),
  },
  {
    name: 'ops.add|mul|sub',
    // b may be a number: only a's slot must hold a Tensor.
    build: (g) => ({
      args: [tensor(g, [2, 3]), tensor(g, pick(g, [[2, 3], [3], [1, 3], [2, 1]])), g.int(3)],
      tensors: [0],
    }),
    call: (a) => [ops.add, ops.mul, ops.sub][which(a[2], 3)](a[0] as Tensor, a[1] as Tensor),
  },
  {
    name: 'ops.sum|reshape|permute|slice',
    build: (g) => ({
      args: [tensor(g, [2, 3, 4]), pick(g, [[1], [0, 2], [6, 4], [-1, 4], [2, 0, 1]]), g.int(4)],
      tensors: [0],
    }),
    call: (a) => {
      const x = a[0] as Tensor;
      const v = a[1] as number[];
      switch (which(a[2], 4)) {
        case 0:
          return ops.sum(x, v);
        case 1:
          return ops.reshape(x, v);
        case 2:
          return ops.permute(x, v);
        default:
          return ops.slice(x, v?.[0] as number, v?.[1] as number);
      }
    },
  },
  {
    name: 'ops.concat',
    build: (g) => ({ args: [[tensor(g, [2, 3]), tensor(g, [2, pick(g, [3, 4])])], g.int(3)], tensors: [] }),
    call: (a) => ops.concat(a[0] as Tensor[], a[1] as number),
  },
  {
    name: 'Tensor.from|randn|zeros',
    build: (g) => ({ args: [[1, 2, 3, 4, 5, 6], pick(g, [[2, 3], [3, 2], [6], [7], [2, -3]]), g.int(3)], tensors: [] }),
    call: (a) =>
      [
        () => Tensor.from(a[0] as number[], a[1] as number[]),
        () => Tensor.randn(a[1] as number[]),
        () => Tensor.zeros(a[1] as number[]),
      ][which(a[2], 3)](),
  },
  {
    name: 'nn.layers',
    build: (g) => ({
      args: [size(g, 8), size(g, 8), { kernelSize: size(g, 4), stride: size(g, 3), padding: g.int(3) }, g.int(6)],
      tensors: [],
      options: 2,
    }),
    call: (a) => {
      const [i, o, opts, choice] = a as [number, number, nn.Conv2dOptions & Record<string, unknown>, number];
      const layers = [
        () => new nn.Conv2d(i, o, opts),
        () => new nn.DeformConv2d(i, o, opts as nn.DeformConv2dOptions),
        () => new nn.ModulatedDeformConv2d(i, o, opts as nn.ModulatedDeformConv2dOptions),
        () => new nn.OctaveConv2d(i, o, opts as unknown as nn.OctaveConv2dOptions),
        () => new nn.Linear(i, o),
        () => new nn.BatchNorm2d(i, { eps: (opts as { padding?: unknown } | null)?.padding as number }),
      ];
      const layer = layers[which(choice, layers.length)]();
      return layer instanceof nn.Linear
        ? layer
        : (layer as nn.Module).forward(Tensor.randn([1, Math.max(1, which(i, 64)), 6, 6]));
    },
  },
  {
    name: 'models.resnet18|unet',
    build: (g) => ({
      args: [
        {
          numClasses: size(g, 10),
          inChannels: size(g, 3),
          width: size(g, 4),
          stem: pick(g, ['cifar', 'imagenet']),
          conv: pick(g, ['standard', 'deform']),
        },
        g.uniform() < 0.5,
      ],
      tensors: [],
      options: 0,
    }),
    call: (a) =>
      a[1]
        ? models.resnet18(a[0] as models.ResNetOptions)
        : models.unet({ ...(a[0] as object), depth: 1 } as models.UNetOptions),
  },
  {
    name: 'data.syntheticShapes|warpDataset|DataLoader',
    build: (g) => ({
      args: [
        { length: size(g, 4), size: pick(g, [8, 12, 7, 0, -3]), rotation: pick(g, [0, 30, NaN]) },
        {
          rotation: pick(g, [10, [5, 1], -1]),
          scale: pick(g, [
            [1, 2],
            [0, 1],
          ]),
        },
        { batchSize: size(g, 4), shuffle: true },
      ],
      tensors: [],
      options: 0,
    }),
    call: (a) => {
      const ds = data.syntheticShapes(a[0] as data.SyntheticShapesOptions);
      data.warpDataset(ds, a[1] as data.GeometricTransformOptions);
      return [...new data.DataLoader(ds, a[2] as data.DataLoaderOptions)].length;
    },
  },
];

/** Byte-level readers: random bytes, or a valid file with bytes flipped, cut or extended. */
function bytesCase(g: Generator, valid: Uint8Array): Uint8Array {
  const r = g.uniform();
  if (r < 0.25) return Uint8Array.from({ length: g.int(64) }, () => g.int(256));
  const out = Uint8Array.from(valid);
  if (r < 0.5) return out.subarray(0, g.int(out.length));
  for (let i = 0; i < 1 + g.int(6); i++) out[g.int(out.length)] = g.int(256);
  return out;
}

let validSafetensors: Uint8Array | null = null;
let validIdx: Uint8Array | null = null;
let validOnnx: Uint8Array | null = null;
let scratchDir: string | null = null;

function readers(g: Generator): Call {
  if (!validSafetensors) {
    validSafetensors = serializeSafetensors({ w: Tensor.randn([2, 3]), b: Tensor.randn([3]) });
    validIdx = Uint8Array.from([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 3, 4, 5, 6, 7, 8]);
    validOnnx = exportOnnx(
      new nn.Sequential(new nn.Conv2d(1, 2, { kernelSize: 3 }), new nn.ReLU()),
      Tensor.randn([1, 1, 5, 5]),
    );
    scratchDir = fs.mkdtempSync(path.join(os.tmpdir(), 'flexconv-fuzz-'));
  }
  const which = g.int(3);
  if (which === 0) {
    const bytes = bytesCase(g, validSafetensors);
    return { target: 'parseSafetensors', run: () => parseSafetensors(bytes), certain: false };
  }
  if (which === 1) {
    const bytes = bytesCase(g, validIdx as Uint8Array);
    return { target: 'data.parseIdx', run: () => data.parseIdx(bytes), certain: false };
  }
  const bytes = bytesCase(g, validOnnx as Uint8Array);
  return { target: 'OnnxModel.load', run: () => OnnxModel.load(bytes), certain: false };
}

/** Case `i` of the run seeded `seed`: always the same call. */
export function makeCase(seed: number, i: number): Call {
  const g = new Generator((seed * 1_000_003 + i * 7919 + 1) >>> 0);
  if (g.uniform() < 0.12) return readers(g);
  const t = pick(g, TARGETS);
  const built = t.build(g);
  const args = [...built.args];
  // Certainty is decided on the final arguments (a later mutation may overwrite an earlier one).
  const certainSlots = new Set<number>();
  let unknownKey = false;
  const mutations = g.uniform() < 0.15 ? 0 : 1 + g.int(2);
  for (let m = 0; m < mutations; m++) {
    const r = g.uniform();
    if (r < 0.4 && built.tensors.length) {
      const at = pick(g, built.tensors);
      const mut: Mutation = badTensorArg(g);
      args[at] = mut.value;
      if (mut.certain) certainSlots.add(at);
      else certainSlots.delete(at);
    } else if (
      r < 0.75 &&
      built.options !== undefined &&
      args[built.options] &&
      typeof args[built.options] === 'object'
    ) {
      const opts = { ...(args[built.options] as Record<string, unknown>) };
      const keys = Object.keys(opts);
      if (g.uniform() < 0.2) {
        opts[pick(g, ['strde', 'paddng', 'bogus', 'kernel_size'])] = 1; // an unknown option key
        unknownKey = t.strictOptions === true;
      } else if (keys.length) opts[pick(g, keys)] = badValue(g);
      args[built.options] = opts;
    } else {
      const at = g.int(args.length);
      args[at] = badValue(g);
      certainSlots.delete(at);
      if (at === built.options) unknownKey = false;
    }
  }
  const certain = certainSlots.size > 0 || unknownKey;
  return { target: t.name, run: () => t.call(args), certain, args };
}

export function cleanup(): void {
  if (scratchDir) fs.rmSync(scratchDir, { recursive: true, force: true });
}
