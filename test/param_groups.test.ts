import { ArgumentError, nn, ops, Tensor } from '../lib';
import { CosineAnnealingLR, deformParamGroups, SGD } from '../lib/optim';

/** A net with every kind of layer that owns an offset predictor, plus plain layers around them. */
function mixedNet(): nn.Module {
  const layers: nn.Module[] = [
    new nn.Conv2d(1, 4, { kernelSize: 3, padding: 1 }),
    new nn.DeformConv2d(4, 4, { kernelSize: 3, padding: 1 }),
    new nn.DeformableConvBlock(4, 4, { kernelSize: 3, padding: 1, modulated: true }),
    new nn.DeformSampler(4),
    new nn.BatchNorm2d(4),
  ];
  return new nn.Sequential(...layers);
}

function names(net: nn.Module, params: Tensor[]): string[] {
  const byParam = new Map<Tensor, string>(Array.from(net.namedParameters(), ([n, p]) => [p, n] as [Tensor, string]));
  return params.map((p) => byParam.get(p) ?? '?').sort();
}

describe('deformParamGroups', () => {
  test('puts exactly the offset predictors in a group at lr * offsetLrMult', () => {
    const net = mixedNet();
    const groups = deformParamGroups(net, { lr: 0.02, offsetLrMult: 0.25 });
    expect(groups.map((g) => g.lr)).toEqual([0.02, 0.005]);
    const offsetNames = names(net, groups[1].params);
    expect(offsetNames).toEqual(
      Array.from(net.namedParameters(), ([n]) => n)
        .filter((n) => n.includes('conv_offset'))
        .sort(),
    );
    expect(offsetNames.length).toBe(6); // weight and bias of three predictors
    // A partition: every parameter once.
    const all = [...groups[0].params, ...groups[1].params];
    expect(new Set(all).size).toBe(all.length);
    expect(names(net, all)).toEqual(Array.from(net.namedParameters(), ([n]) => n).sort());
  });

  test('a net without deformable layers gets one group; the default multiplier is 0.1', () => {
    const plain = new nn.Sequential(new nn.Conv2d(1, 2, { kernelSize: 3 }), new nn.ReLU());
    const groups = deformParamGroups(plain, { lr: 1e-3 });
    expect(groups).toHaveLength(1);
    expect(groups[0].params).toHaveLength(2);
    expect(deformParamGroups(new nn.DeformConv2d(2, 2, { kernelSize: 3 }), { lr: 1 })[1].lr).toBeCloseTo(0.1, 12);
  });

  test('an SGD step moves each group by its own rate, and schedulers scale both', () => {
    const net = mixedNet();
    const groups = deformParamGroups(net, { lr: 0.5, offsetLrMult: 0.1 });
    const opt = new SGD(groups, { lr: 0.5 });
    const before = new Map(net.parameters().map((p) => [p as Tensor, p.toArray()]));
    for (const p of net.parameters()) p.grad = ops.onesLike(p);
    opt.step();
    const offset = new Set<Tensor>(groups[1].params);
    for (const p of net.parameters()) {
      const rate = offset.has(p) ? 0.05 : 0.5;
      const b = before.get(p)!;
      p.toArray().forEach((v, i) => expect(v).toBeCloseTo(b[i] - rate, 6));
    }
    const scheduler = new CosineAnnealingLR(opt, { tMax: 4 });
    scheduler.step();
    scheduler.step();
    // Half way through a cosine schedule every group is at half its base rate.
    expect(opt.paramGroups.map((g) => g.lr)).toEqual([0.25, 0.025].map((x) => expect.closeTo(x, 12)));
  });

  test('bad arguments name what was expected', () => {
    const net = mixedNet();
    expect(() => deformParamGroups(net, { lr: 0.1, offsetLrMult: -1 })).toThrow(ArgumentError);
    expect(() => deformParamGroups(net, { lr: 0.1, offsetLrMult: -1 })).toThrow(/offsetLrMult.*>= 0.*-1/);
    expect(() => deformParamGroups(net, { lr: Number.NaN })).toThrow(/lr/);
    expect(() => deformParamGroups({} as nn.Module, { lr: 0.1 })).toThrow(/model to be a Module/);
  });
});
