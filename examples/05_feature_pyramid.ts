/**
 * A feature pyramid (FPN with PANet's bottom-up path) over three backbone levels, with a
 * deformable convolution refining the finest output level, trained for a few steps to pull its
 * outputs towards a target: everything is differentiable end to end.
 *
 *   npx ts-node --project examples/tsconfig.json examples/05_feature_pyramid.ts
 */
import { manualSeed, nn, ops, optim, Tensor, tidy } from 'flexconv';

manualSeed(5);
const fpn = new nn.FeaturePyramidNetwork([16, 32, 64], 24, { bottomUp: true });
const refine = new nn.DeformConv2d(24, 24, { kernelSize: 3, padding: 1 });
const levels = [Tensor.randn([2, 16, 32, 32]), Tensor.randn([2, 32, 16, 16]), Tensor.randn([2, 64, 8, 8])];
const target = Tensor.randn([2, 24, 32, 32]);
const opt = new optim.Adam([...fpn.parameters(), ...refine.parameters()], { lr: 1e-2 });

const losses: number[] = [];
for (let step = 0; step < 10; step++) {
  tidy(() => {
    opt.zeroGrad();
    const outputs = fpn.forward(levels) as Tensor[];
    const loss = ops.mseLoss(refine.forward(outputs[0]), target);
    loss.backward();
    opt.step();
    losses.push(loss.item());
  });
}
const shapes = (fpn.forward(levels) as Tensor[]).map((t) => JSON.stringify(t.shape));
console.log(`pyramid levels: ${shapes.join(' ')}`);
console.log(`loss over 10 Adam steps: ${losses[0].toFixed(4)} -> ${losses[losses.length - 1].toFixed(4)}`);
if (!(losses[losses.length - 1] < losses[0])) throw new Error('the loss should fall');
