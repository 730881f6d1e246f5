/**
 * Every op with PyTorch / torchvision semantics against the real library's float64 output and
 * gradients (golden fixtures, test/torch_fixtures.ts), under every instruction set this CPU
 * has: deform_conv2d (v1 and v2, zero / integer / half-integer / random offsets, taps on and
 * beyond every border, strides, dilation, groups, offset groups, rectangular kernels, batches),
 * grid_sample, conv2d, conv_transpose2d, pooling, batch_norm, interpolate, the losses and
 * one SGD / Adam / AdamW trajectory.
 */
import { ops, optim, Tensor } from '../lib';
import type { Isa } from '../lib';
import { forEachIsa } from './helpers';
import { expectMatchesFixture, FixtureCase, loadFixtures, toTensor } from './torch_fixtures';

/** Seeds backward with the fixture's grad_out and returns each input's gradient. */
function backward(out: Tensor, c: FixtureCase, inputs: Record<string, Tensor | null>): Record<string, Tensor | null> {
  out.backward(toTensor(c.tensors.grad_out));
  return Object.fromEntries(Object.entries(inputs).map(([k, t]) => [k, t ? t.grad : null]));
}

/** Compares out and every grad_<name> the fixture holds. */
function expectCaseMatches(c: FixtureCase, isa: Isa, out: Tensor, grads: Record<string, Tensor | null>): void {
  expectMatchesFixture(out, c.tensors.out, `${c.name} [${isa}] out`);
  for (const [name, g] of Object.entries(grads)) {
    const expected = c.tensors[`grad_${name}`];
    if (expected) expectMatchesFixture(g, expected, `${c.name} [${isa}] grad_${name}`);
  }
}

describe('deform_conv2d equals torchvision 0.14 (forward and every gradient)', () => {
  const cases = loadFixtures('deform_conv2d');
  test.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    forEachIsa((isa) => {
      const t = c.tensors;
      const input = toTensor(t.input, true),
        offset = toTensor(t.offset, true),
        weight = toTensor(t.weight, true);
      const mask = t.mask ? toTensor(t.mask, true) : null;
      const bias = t.bias ? toTensor(t.bias, true) : null;
      const out = ops.deformConv2d(input, offset, weight, {
        bias,
        mask,
        stride: c.args.stride,
        padding: c.args.padding,
        dilation: c.args.dilation,
      });
      expectCaseMatches(c, isa, out, backward(out, c, { input, offset, weight, mask, bias }));
    });
  });

  test('the issue-19 case (zero offsets, padding 1) matches entry by entry, border taps included', () => {
    const c = loadFixtures('deform_conv2d').find((k) => k.name === 'zero_offsets_v1')!;
    const t = c.tensors;
    const input = toTensor(t.input),
      offset = toTensor(t.offset, true),
      weight = toTensor(t.weight);
    const out = ops.deformConv2d(input, offset, weight, { bias: toTensor(t.bias), padding: c.args.padding });
    out.backward(toTensor(t.grad_out));
    const got = offset.grad!.toArray();
    // Every tap of the first and last rows / columns sits exactly on the line -1 or on row or
    // column H - 1: torchvision's one-sided derivative there is nonzero.
    const nonzeroBorder = got.filter((v, i) => Math.abs(t.grad_offset.data[i]) > 1e-3 && v !== 0).length;
    expect(nonzeroBorder).toBeGreaterThan(20);
    got.forEach((v, i) => {
      if (!(Math.abs(v - t.grad_offset.data[i]) <= 1e-5 * (1 + Math.abs(t.grad_offset.data[i])))) {
        throw new Error(`grad_offset[${i}] = ${v}, torchvision ${t.grad_offset.data[i]}`);
      }
    });
  });
});

describe('deform_conv2d propagates NaN and Inf as torchvision does', () => {
  // torchvision reads every corner inside the image (0 * NaN = NaN), none outside it, and
  // multiplies the sample by the mask (a NaN mask at a tap outside the image still gives NaN).
  test.each(loadFixtures('deform_conv2d_nonfinite').map((c) => [c.name, c] as const))('%s', (_name, c) => {
    forEachIsa((isa) => {
      const t = c.tensors;
      const out = ops.deformConv2d(toTensor(t.input), toTensor(t.offset), toTensor(t.weight), {
        mask: t.mask ? toTensor(t.mask) : null,
        padding: c.args.padding,
      });
      expectMatchesFixture(out, t.out, `${c.name} [${isa}] out`);
    });
  });
});

describe('grid_sample equals PyTorch (both modes, every padding mode, align_corners both ways)', () => {
  test.each(loadFixtures('grid_sample').map((c) => [c.name, c] as const))('%s', (_name, c) => {
    forEachIsa((isa) => {
      const input = toTensor(c.tensors.input, true),
        grid = toTensor(c.tensors.grid, true);
      const out = ops.gridSample(input, grid, c.args);
      expectCaseMatches(c, isa, out, backward(out, c, { input, grid }));
    });
  });
});

describe('conv2d and conv_transpose2d equal PyTorch', () => {
  test.each(loadFixtures('conv2d').map((c) => [c.name, c] as const))('conv2d %s', (_name, c) => {
    forEachIsa((isa) => {
      const input = toTensor(c.tensors.input, true),
        weight = toTensor(c.tensors.weight, true);
      const bias = c.tensors.bias ? toTensor(c.tensors.bias, true) : null;
      const out = ops.conv2d(input, weight, { bias, ...c.args });
      expectCaseMatches(c, isa, out, backward(out, c, { input, weight, bias }));
    });
  });
  test.each(loadFixtures('conv_transpose2d').map((c) => [c.name, c] as const))('conv_transpose2d %s', (_name, c) => {
    forEachIsa((isa) => {
      const input = toTensor(c.tensors.input, true),
        weight = toTensor(c.tensors.weight, true);
      const bias = c.tensors.bias ? toTensor(c.tensors.bias, true) : null;
      const out = ops.convTranspose2d(input, weight, { bias, ...c.args });
      expectCaseMatches(c, isa, out, backward(out, c, { input, weight, bias }));
    });
  });
});

describe('activations equal PyTorch (relu, leaky_relu, sigmoid, tanh, silu, softplus)', () => {
  const apply: Record<string, (x: Tensor, args: Record<string, unknown>) => Tensor> = {
    relu: (x) => ops.relu(x),
    leakyRelu: (x, a) => ops.leakyRelu(x, a.slope as number),
    sigmoid: (x) => ops.sigmoid(x),
    tanh: (x) => ops.tanh(x),
    silu: (x) => ops.silu(x),
    softplus: (x, a) => ops.softplus(x, a as ops.SoftplusOptions),
  };
  test.each(loadFixtures('activation').map((c) => [c.name, c] as const))('%s', (_name, c) => {
    forEachIsa((isa) => {
      const input = toTensor(c.tensors.input, true);
      const { op, ...options } = c.args;
      const out = apply[op as string](input, options);
      expectCaseMatches(c, isa, out, backward(out, c, { input }));
    });
  });
});

describe('pooling equals PyTorch (max, average, adaptive average)', () => {
  test.each(loadFixtures('pooling').map((c) => [c.name, c] as const))('%s', (_name, c) => {
    forEachIsa((isa) => {
      const input = toTensor(c.tensors.input, true);
      const { op, outputSize, ...options } = c.args;
      const out =
        op === 'maxPool2d'
          ? ops.maxPool2d(input, options as ops.MaxPool2dOptions)
          : op === 'avgPool2d'
            ? ops.avgPool2d(input, options as ops.AvgPool2dOptions)
            : ops.adaptiveAvgPool2d(input, outputSize);
      expectCaseMatches(c, isa, out, backward(out, c, { input }));
    });
  });
});

describe('batch_norm equals PyTorch (training with running-statistic updates, and eval)', () => {
  test.each(loadFixtures('batch_norm').map((c) => [c.name, c] as const))('%s', (_name, c) => {
    forEachIsa((isa) => {
      const t = c.tensors;
      const input = toTensor(t.input, true),
        weight = toTensor(t.weight, true),
        bias = toTensor(t.bias, true);
      const runningMean = toTensor(t.running_mean),
        runningVar = toTensor(t.running_var);
      const out = ops.batchNorm2d(input, runningMean, runningVar, weight, bias, c.args);
      expectCaseMatches(c, isa, out, backward(out, c, { input, weight, bias }));
      expectMatchesFixture(runningMean, t.running_mean_after, `${c.name} [${isa}] running_mean`);
      expectMatchesFixture(runningVar, t.running_var_after, `${c.name} [${isa}] running_var`);
    });
  });
});

describe('interpolate equals PyTorch (nearest, bilinear, align_corners both ways)', () => {
  test.each(loadFixtures('interpolate').map((c) => [c.name, c] as const))('%s', (_name, c) => {
    forEachIsa((isa) => {
      const input = toTensor(c.tensors.input, true);
      const out = ops.interpolate(input, c.args);
      expectCaseMatches(c, isa, out, backward(out, c, { input }));
    });
  });
});

describe('losses equal PyTorch (cross-entropy, BCE with logits, MSE)', () => {
  test.each(loadFixtures('loss').map((c) => [c.name, c] as const))('%s', (_name, c) => {
    forEachIsa((isa) => {
      const t = c.tensors;
      const input = toTensor(t.input, true),
        target = toTensor(t.target);
      const { op, ...options } = c.args;
      const out =
        op === 'crossEntropy'
          ? ops.crossEntropy(input, target, options)
          : op === 'bce'
            ? ops.binaryCrossEntropyWithLogits(input, target, {
                ...options,
                posWeight: t.pos_weight ? toTensor(t.pos_weight) : undefined,
              })
            : ops.mseLoss(input, target, options);
      expectCaseMatches(c, isa, out, backward(out, c, { input }));
    });
  });
});

describe('optimizers equal torch.optim over three steps (SGD, Adam, AdamW)', () => {
  test.each(loadFixtures('optim').map((c) => [c.name, c] as const))('%s', (_name, c) => {
    forEachIsa((isa) => {
      const t = c.tensors;
      const params = [toTensor(t.param0, true), toTensor(t.param1, true)];
      const { optimizer, options, steps } = c.args;
      const opt =
        optimizer === 'SGD'
          ? new optim.SGD(params, options)
          : optimizer === 'Adam'
            ? new optim.Adam(params, options)
            : new optim.AdamW(params, options);
      for (let s = 0; s < steps; s++) {
        params.forEach((p, k) => (p.grad = toTensor(t[`grad${k}_step${s}`])));
        opt.step();
        params.forEach((p, k) =>
          expectMatchesFixture(p, t[`param${k}_after${s}`], `${c.name} [${isa}] param${k} after step ${s}`),
        );
      }
    });
  });
});
