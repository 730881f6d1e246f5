/**
 * Serve a deformable ResNet one image at a time: record its eval forward once as an
 * nn.InferencePlan and replay it for each request. The replay returns the forward's values bit
 * for bit, without the JavaScript between kernels, and records again by itself after the
 * weights change.
 *
 *   npx ts-node --project examples/tsconfig.json examples/06_inference_plan.ts
 */
import { manualSeed, models, nn, noGrad, Tensor, tidy } from 'flexconv';

function medianMs(fn: () => void, runs: number): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    fn();
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return times.sort((a, b) => a - b)[runs >> 1];
}

manualSeed(5);
const net = models.resnet18({ numClasses: 10, stem: 'cifar', width: 16, conv: { kind: 'deform', stages: [3, 4] } });
net.eval();
const plan = new nn.InferencePlan(net, Tensor.randn([1, 3, 32, 32]));

const request = Tensor.randn([1, 3, 32, 32]);
const replayed = plan.run(request);
const direct = noGrad(() => net.forward(request));
const same = replayed.toArray().every((v, i) => v === direct.toArray()[i]);
console.log(`plan and forward agree bit for bit: ${same}`);
if (!same) throw new Error('the plan should reproduce the forward exactly');

const forwardMs = medianMs(() => tidy(() => void noGrad(() => net.forward(request))), 30);
const planMs = medianMs(() => tidy(() => void plan.run(request)), 30);
console.log(
  `batch 1: forward ${forwardMs.toFixed(2)} ms, plan ${planMs.toFixed(2)} ms (memory held: ${(plan.bytes / 1024).toFixed(0)} KB)`,
);
plan.dispose();
