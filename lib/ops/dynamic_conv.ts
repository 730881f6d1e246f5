/**
 * Dynamic convolution (CondConv / DY-Conv): each sample b is convolved with its own kernel,
 * the attention-weighted mixture of K expert kernels:
 *
 *   out[b] = conv2d(input[b], sum_k attention[b, k] * experts[k], sum_k attention[b, k] * expertBias[k])
 *
 * One native call covers the whole batch (each sample's kernel is mixed in cache and the sample runs
 * as an implicit GEMM), and one native call computes every gradient the graph needs.
 */
import { record } from '../autograd';
import { checkInt, checkOptionKeys, checkPair, shapeString } from '../check';
import { ArgumentError, DeviceError, describe, ShapeError } from '../errors';
import { native } from '../native';
import { Tensor } from '../tensor';
import { checkConvOptionsObject } from './conv';

type Pair = number | [number, number];

export interface DynamicConv2dOptions {
  /** Per-expert bias [K, outChannels], mixed by the same attention. */
  expertBias?: Tensor | null;
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  groups?: number;
}

const where = 'dynamicConv2d';

function checkTensor(name: string, t: unknown, ndim: number, layout: string): Tensor {
  if (!(t instanceof Tensor)) {
    throw new ArgumentError(`${where}: expected ${name} to be a Tensor but received ${describe(t)}`);
  }
  if (t.ndim !== ndim) {
    throw new ShapeError(
      `${where}: expected ${name} to be a ${ndim}-D tensor ${layout} but received shape ${shapeString(t.shape)}`,
    );
  }
  return t;
}

function sameDevice(input: Tensor, name: string, t: Tensor): void {
  if (t.device !== input.device)
    throw new DeviceError(`${where}: input is on ${input.device} but ${name} is on ${t.device}`);
}

/**
 * input [B, C, H, W], experts [K, O, C / groups, kh, kw], attention [B, K] (usually a softmax
 * over K per sample), options.expertBias [K, O]. Returns [B, O, OH, OW] with PyTorch's
 * conv2d output size.
 */
export function dynamicConv2d(
  input: Tensor,
  experts: Tensor,
  attention: Tensor,
  options: DynamicConv2dOptions = {},
): Tensor {
  checkTensor('input', input, 4, '[B, C, H, W]');
  checkTensor('experts', experts, 5, '[K, outChannels, inChannels / groups, kH, kW]');
  checkTensor('attention', attention, 2, '[B, K]');
  checkConvOptionsObject(where, options);
  checkOptionKeys(where, options, ['expertBias', 'stride', 'padding', 'dilation', 'groups']);
  sameDevice(input, 'experts', experts);
  sameDevice(input, 'attention', attention);
  const [B, C, H, W] = input.shape;
  const [K, O, Cg, kh, kw] = experts.shape;
  const groups = checkInt(where, 'groups', options.groups ?? 1, 1);
  const stride = checkPair(where, 'stride', options.stride ?? 1, 1);
  const padding = checkPair(where, 'padding', options.padding ?? 0, 0);
  const dilation = checkPair(where, 'dilation', options.dilation ?? 1, 1);
  if (K < 1)
    throw new ShapeError(
      `${where}: expected experts to hold at least one expert but received shape ${shapeString(experts.shape)}`,
    );
  if (attention.shape[0] !== B || attention.shape[1] !== K) {
    throw new ShapeError(
      `${where}: expected attention of shape ${shapeString([B, K])} (batch of input ${shapeString(input.shape)}, experts of ${shapeString(experts.shape)}) but received ${shapeString(attention.shape)}`,
    );
  }
  if (C % groups !== 0) {
    throw new ShapeError(
      `${where}: expected groups (${groups}) to divide the input channels but received ${C} input channels (input shape ${shapeString(input.shape)})`,
    );
  }
  if (O % groups !== 0) {
    throw new ShapeError(
      `${where}: expected groups (${groups}) to divide the output channels but received ${O} output channels (experts shape ${shapeString(experts.shape)})`,
    );
  }
  if (Cg * groups !== C) {
    throw new ShapeError(
      `${where}: expected input to have ${Cg * groups} channels (experts ${shapeString(experts.shape)} with groups ${groups}) but received ${C} channels (input shape ${shapeString(input.shape)})`,
    );
  }
  let expertBias: Tensor | null = null;
  if (options.expertBias !== undefined && options.expertBias !== null) {
    expertBias = checkTensor('expertBias', options.expertBias, 2, '[K, outChannels]');
    if (expertBias.shape[0] !== K || expertBias.shape[1] !== O) {
      throw new ShapeError(
        `${where}: expected expertBias of shape ${shapeString([K, O])} (one bias per expert and output channel) but received ${shapeString(expertBias.shape)}`,
      );
    }
    sameDevice(input, 'expertBias', expertBias);
  }
  const OH = Math.floor((H + 2 * padding[0] - dilation[0] * (kh - 1) - 1) / stride[0]) + 1;
  const OW = Math.floor((W + 2 * padding[1] - dilation[1] * (kw - 1) - 1) / stride[1]) + 1;
  if (OH < 1 || OW < 1 || kh < 1 || kw < 1) {
    throw new ShapeError(
      `${where}: the kernel ${kh}x${kw} (dilation ${shapeString(dilation)}) is larger than the padded input ${H + 2 * padding[0]}x${W + 2 * padding[1]} (input ${H}x${W}, padding ${shapeString(padding)})`,
    );
  }
  const params = { stride, padding, dilation, groups };
  const out = Tensor.empty([B, O, OH, OW], { device: input.device });
  native().dynamicConv2d(input, experts, attention, expertBias, out, params);
  return record(
    where,
    [input, experts, attention, expertBias],
    out,
    (g) => {
      const want = (t: Tensor | null) => (t?.requiresGrad ? Tensor.empty(t.shape, { device: g.device }) : null);
      const grads = [want(input), want(experts), want(attention), want(expertBias)] as const;
      native().dynamicConv2dBackward(g, input, experts, attention, expertBias, ...grads, params);
      return [...grads];
    },
    (ctx) => {
      // Batch-independent standard ops: one Conv with every expert's kernel stacked (group-major,
      // so `groups` still splits channels correctly), then the per-sample attention mix of the
      // K partial outputs (conv is linear in the kernel), then the mixed bias.
      const Og = O / groups;
      const [w6] = ctx.node('Reshape', [ctx.name(experts), ctx.ints([K, groups, Og, Cg, kh, kw])]);
      const [wt] = ctx.node('Transpose', [w6], undefined, { perm: [1, 0, 2, 3, 4, 5] });
      const [stacked] = ctx.node('Reshape', [wt, ctx.ints([groups * K * Og, Cg, kh, kw])]);
      const [y] = ctx.node('Conv', [ctx.name(input), stacked], undefined, {
        kernel_shape: [kh, kw],
        strides: stride,
        pads: [padding[0], padding[1], padding[0], padding[1]],
        dilations: dilation,
        group: groups,
      });
      const [y5] = ctx.node('Reshape', [y, ctx.ints([0, groups, K, Og, OH * OW])]);
      const [a5] = ctx.node('Reshape', [ctx.name(attention), ctx.ints([0, 1, K, 1, 1])]);
      const [weighted] = ctx.node('Mul', [y5, a5]);
      const [mixed] =
        ctx.opset >= 13
          ? ctx.node('ReduceSum', [weighted, ctx.ints([2])], undefined, { keepdims: 0 })
          : ctx.node('ReduceSum', [weighted], undefined, { axes: [2], keepdims: 0 });
      if (!expertBias) {
        ctx.node('Reshape', [mixed, ctx.ints([0, O, OH, OW])], [ctx.output]);
        return;
      }
      const [noBias] = ctx.node('Reshape', [mixed, ctx.ints([0, O, OH, OW])]);
      const [bias2] = ctx.node('MatMul', [ctx.name(attention), ctx.name(expertBias)]);
      const [bias4] = ctx.node('Reshape', [bias2, ctx.ints([0, O, 1, 1])]);
      ctx.node('Add', [noBias, bias4], [ctx.output]);
    },
  );
}
