/**
 * A deformable convolution layer, forward and backward, and what its offsets do.
 *
 * A freshly built DeformConv2d starts with zero offsets (its offset predictor is zero-
 * initialised), so it samples the regular grid and computes exactly what a Conv2d with the same
 * weights computes. Training moves the sampling points; here we nudge the predictor's bias by
 * hand and see the output change and the sampling points move.
 *
 *   npx ts-node --project examples/tsconfig.json examples/01_deformable_layer.ts
 */
import { manualSeed, nn, noGrad, ops, Tensor } from 'flexconv';

manualSeed(0);
const deform = new nn.DeformConv2d(3, 8, { kernelSize: 3, padding: 1 });
const plain = new nn.Conv2d(3, 8, { kernelSize: 3, padding: 1 });
plain.weight.data.set(deform.weight.data);
plain.bias!.data.set(deform.bias!.data);

const x = Tensor.randn([2, 3, 16, 16]);
const same = noGrad(() => maxAbsDiff(deform.forward(x), plain.forward(x)));
console.log(`zero offsets: largest difference from Conv2d = ${same.toExponential(2)}`);
if (same > 1e-5) throw new Error('a zero-offset deformable conv should equal the plain conv');

// Shift every sampling point half a pixel down and right (offsets are dy, dx per tap).
const bias = deform.conv_offset.bias!.data;
for (let i = 0; i < bias.length; i++) bias[i] = 0.5;
const moved = noGrad(() => maxAbsDiff(deform.forward(x), plain.forward(x)));
console.log(`offsets of half a pixel: largest difference = ${moved.toFixed(3)}`);

const locations = nn.samplingLocations(deform, x);
console.log(
  `first tap of output pixel (0, 0) now samples y = ${locations.y[0].toFixed(2)}, x = ${locations.x[0].toFixed(2)}`,
);

// Gradients reach the input, the weights and the offset predictor.
const loss = ops.mean(ops.mul(deform.forward(x.requireGrad()), deform.forward(x)));
loss.backward();
console.log(
  `gradient norms: input ${norm(x.grad!)}, weight ${norm(deform.weight.grad!)}, offset predictor ${norm(deform.conv_offset.weight.grad!)}`,
);

function maxAbsDiff(a: Tensor, b: Tensor): number {
  const x = a.toArray(),
    y = b.toArray();
  return x.reduce((m, v, i) => Math.max(m, Math.abs(v - y[i])), 0);
}

function norm(t: Tensor): string {
  return Math.sqrt(t.toArray().reduce((s, v) => s + v * v, 0)).toFixed(4);
}
