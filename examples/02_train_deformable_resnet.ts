/**
 * Train a small ResNet-18 whose last two stages use deformable convolutions, on the built-in
 * glyph dataset, for three short epochs, evaluating after each.
 *
 *   npx ts-node --project examples/tsconfig.json examples/02_train_deformable_resnet.ts
 */
import { data, manualSeed, models, optim, train } from 'flexconv';

async function main(): Promise<void> {
  manualSeed(1);
  const trainSet = data.syntheticShapes({ length: 2048, seed: 1 }); // 1x32x32 glyphs, 10 classes
  const testSet = data.syntheticShapes({ length: 256, seed: 2 });
  const normalize = data.channelStats(trainSet);
  const loader = new data.DataLoader(trainSet, { batchSize: 32, shuffle: true, seed: 1, dropLast: true, normalize });
  const testLoader = new data.DataLoader(testSet, { batchSize: 128, normalize });

  const net = models.resnet18({
    numClasses: 10,
    inChannels: 1,
    stem: 'cifar',
    width: 8,
    conv: { kind: 'deform', stages: [3, 4] },
  });
  // The offset predictors learn at a tenth of the rate (mmcv's dcn_offset_lr_mult).
  const opt = new optim.Adam(optim.deformParamGroups(net, { lr: 3e-3, offsetLrMult: 0.1 }), { lr: 3e-3 });
  const { history } = await train.fit(net, opt, loader, { epochs: 3, valLoader: testLoader, progress: 'none' });
  const last = history[history.length - 1];
  console.log(
    `after three epochs: train loss ${last.trainLoss.toFixed(3)}, test accuracy ${(100 * last.valAccuracy!).toFixed(1)}%`,
  );
  if (!(last.valAccuracy! > 0.3)) throw new Error('three epochs should beat chance (10%) clearly');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
