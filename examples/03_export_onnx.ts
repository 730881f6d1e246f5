/**
 * Export a network with modulated deformable convolutions (DCNv2) to ONNX and run it in ONNX
 * Runtime (DeformConv, opset 19), comparing its output with flexconv's own.
 *
 *   npx ts-node --project examples/tsconfig.json examples/03_export_onnx.ts
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { exportOnnx, manualSeed, models, noGrad, OnnxModel, Tensor } from 'flexconv';

async function main(): Promise<void> {
  manualSeed(3);
  const net = models.resnet18({
    numClasses: 5,
    inChannels: 3,
    stem: 'cifar',
    width: 8,
    conv: { kind: 'modulated', stages: [4] },
  });
  net.eval();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flexconv-example-'));
  const file = path.join(dir, 'dcnv2.onnx');
  try {
    exportOnnx(net, [1, 3, 32, 32], { opset: 19, dynamicBatch: true, file });
    console.log(`exported ${path.basename(file)}: ${fs.statSync(file).size} bytes`);

    const x = Tensor.randn([4, 3, 32, 32]); // another batch size than the trace: dynamicBatch
    const ours = noGrad(() => net.forward(x)).toArray();
    const session = await OnnxModel.load(file, { threads: 2 });
    const theirs = (await session.runTensor(x)).toArray();
    const diff = ours.reduce((m, v, i) => Math.max(m, Math.abs(v - theirs[i])), 0);
    console.log(`ONNX Runtime vs flexconv on a batch of 4: largest difference ${diff.toExponential(2)}`);
    if (diff > 1e-4) throw new Error('ONNX Runtime should reproduce the exported network');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
