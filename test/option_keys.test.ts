/**
 * Unknown option keys are refused at run time (JavaScript callers have no type checker): a typo
 * like { paddin: 1 } is an ArgumentError naming the key and the closest known one, not a silent
 * default that surfaces later as an unrelated shape error. So are options, and other arguments,
 * of the wrong kind altogether (null, numbers, strings, arrays where an object, a Tensor or a
 * function belongs): typed errors naming the function, never a TypeError from deep inside it.
 */
import {
  ArgumentError,
  data,
  distributed,
  models,
  nn,
  noGrad,
  ops,
  optim,
  OutOfMemoryError,
  parseSafetensors,
  report,
  serializeSafetensors,
  Tensor,
  tidy,
  train,
} from '../lib';

type Loose = Record<string, unknown>;
const x = Tensor.randn([1, 2, 6, 6]);
const w = Tensor.randn([3, 2, 3, 3]);

test.each<[string, () => unknown, RegExp]>([
  [
    'conv2d',
    () => ops.conv2d(x, w, { paddin: 1 } as Loose),
    /conv2d: unknown option 'paddin' \(did you mean 'padding'\?\)/,
  ],
  [
    'convTranspose2d',
    () => ops.convTranspose2d(x, Tensor.randn([2, 3, 3, 3]), { outputpadding: 1 } as Loose),
    /did you mean 'outputPadding'/,
  ],
  [
    'deformConv2d',
    () => ops.deformConv2d(x, Tensor.zeros([1, 18, 4, 4]), w, { masks: null } as Loose),
    /deformConv2d: unknown option 'masks' \(did you mean 'mask'\?\)/,
  ],
  [
    'dynamicConv2d',
    () => ops.dynamicConv2d(x, Tensor.randn([2, 3, 2, 3, 3]), Tensor.rand([1, 2]), { bias: null } as Loose),
    /unknown option 'bias'/,
  ],
  [
    'linear',
    () => ops.linear(Tensor.randn([2, 3]), Tensor.randn([4, 3]), null, { pack: null } as Loose),
    /linear: unknown option 'pack' \(did you mean 'packed'\?\)/,
  ],
  [
    'gridSample',
    () => ops.gridSample(x, Tensor.zeros([1, 2, 2, 2]), { align_corners: true } as Loose),
    /did you mean 'alignCorners'/,
  ],
  [
    'maxPool2d',
    () => ops.maxPool2d(x, { kernelSize: 2, strides: 2 } as unknown as ops.MaxPool2dOptions),
    /did you mean 'stride'/,
  ],
  [
    'avgPool2d',
    () => ops.avgPool2d(x, { kernelSize: 2, dilation: 2 } as unknown as ops.AvgPool2dOptions),
    /avgPool2d: unknown option 'dilation'/,
  ],
  ['interpolate', () => ops.interpolate(x, { scale: 2 } as Loose), /interpolate: unknown option 'scale'/],
  [
    'nn.Conv2d',
    () => new nn.Conv2d(2, 3, { kernelSize: 3, paddin: 1 } as unknown as nn.Conv2dOptions),
    /Conv2d: unknown option 'paddin'/,
  ],
  [
    'nn.DeformConv2d',
    () => new nn.DeformConv2d(2, 3, { kernelSize: 3, offsetGroup: 1 } as Loose),
    /did you mean 'offsetGroups'/,
  ],
  [
    'models.resnet18',
    () => models.resnet18({ numclasses: 10 } as Loose),
    /ResNet: unknown option 'numclasses' \(did you mean 'numClasses'\?\)/,
  ],
  [
    'DataLoader',
    () => new data.DataLoader(data.syntheticShapes({ length: 4, seed: 1 }), { batch_size: 2 } as Loose),
    /did you mean 'batchSize'/,
  ],
])('%s', (_name, call, message) => {
  expect(call).toThrow(ArgumentError);
  expect(call).toThrow(message);
});

test('train.fit refuses an unknown option before training anything', async () => {
  const net = models.resnet18({ numClasses: 10, inChannels: 1, stem: 'cifar', width: 4 });
  const loader = new data.DataLoader(data.syntheticShapes({ length: 4, seed: 1 }), { batchSize: 2 });
  await expect(
    train.fit(net, new optim.SGD(net.parameters()), loader, { epochs: 1, epoch: 3 } as unknown as train.FitOptions),
  ).rejects.toThrow(/fit: unknown option 'epoch' \(did you mean 'epochs'\?\)/);
});

test.each<[string, () => unknown]>([
  ['conv2d', () => ops.conv2d(Tensor.zeros([1, 2, 0, 0]), w, { padding: 2 })],
  ['maxPool2d', () => ops.maxPool2d(Tensor.zeros([1, 2, 0, 5]), { kernelSize: 1 })],
  ['maxPool2d unbatched', () => ops.maxPool2d(Tensor.zeros([2, 0, 5]), { kernelSize: 1 })],
])('%s refuses an image of zero height or width, as PyTorch', (_name, call) => {
  expect(call).toThrow(/expected (input|x) with non-zero (channels, )?height and width/);
});

test('what PyTorch accepts stays accepted: empty batches, conv2d with zero channels, torchvision deform_conv2d on 0x0 input', () => {
  expect(ops.conv2d(Tensor.zeros([0, 2, 6, 6]), w, { padding: 1 }).shape).toEqual([0, 3, 6, 6]);
  expect(ops.conv2d(Tensor.zeros([2, 0, 4, 4]), Tensor.zeros([3, 0, 3, 3]), { padding: 2 }).shape).toEqual([
    2, 3, 6, 6,
  ]);
  expect(() => ops.maxPool2d(Tensor.zeros([1, 0, 4, 4]), { kernelSize: 1 })).toThrow(
    /non-zero channels, height and width/,
  );
  // torchvision 0.14 returns zeros (plus bias) here:
  // F.deform_conv2d(zeros(1,2,0,0), zeros(1,18,2,2), zeros(3,2,3,3), padding=2).
  const out = ops.deformConv2d(Tensor.zeros([1, 2, 0, 0]), Tensor.zeros([1, 18, 2, 2]), w, { padding: 2 });
  expect(out.shape).toEqual([1, 3, 2, 2]);
  expect(out.toArray().every((v) => v === 0)).toBe(true);
});

describe('options that are not an object are typed errors naming the function', () => {
  const shapes = data.syntheticShapes({ length: 4, seed: 1 });
  test.each<[string, () => unknown, RegExp]>([
    [
      'DataLoader with null options',
      () => new data.DataLoader(shapes, null as never),
      /DataLoader: expected options to be an object but received null/,
    ],
    [
      'linear with a number for options',
      () => ops.linear(Tensor.randn([2, 3]), Tensor.randn([4, 3]), null, 5 as never),
      /linear: expected options to be an object but received 5/,
    ],
    [
      'Tensor.randn with null options',
      () => Tensor.randn([2], null as never),
      /Tensor\.randn: expected options to be an object but received null/,
    ],
    [
      'Tensor.zeros with a string for options',
      () => Tensor.zeros([2], 'cpu' as never),
      /Tensor\.zeros: expected options/,
    ],
    ['nn.BatchNorm2d with null options', () => new nn.BatchNorm2d(4, null as never), /BatchNorm2d: expected options/],
    ['nn.Linear with null options', () => new nn.Linear(4, 2, null as never), /Linear: expected options/],
    [
      'loadStateDict with null options',
      () => new nn.Linear(4, 2).loadStateDict({}, null as never),
      /loadStateDict: expected options/,
    ],
    [
      'maxPool2d with an array for options',
      () => ops.maxPool2d(x, [2, 2] as never),
      /maxPool2d: expected options to be an object but received/,
    ],
  ])('%s', (_name, call, message) => {
    expect(call).toThrow(ArgumentError);
    expect(call).toThrow(message);
  });
});

describe('null and wrongly typed arguments are ArgumentErrors naming the function (found by probing)', () => {
  test.each<[string, () => unknown, RegExp]>([
    ['nn.OctNet(null)', () => new nn.OctNet(null as never), /OctNet: expected options to be an object/],
    ['nn.DynamicNet(null)', () => new nn.DynamicNet(null as never), /DynamicNet: expected options to be an object/],
    [
      'nn.FeaturePyramidNetwork(..., null)',
      () => new nn.FeaturePyramidNetwork([4, 8], 4, null as never),
      /FeaturePyramidNetwork: expected options to be an object/,
    ],
    ['nn.BiFPN(..., null)', () => new nn.BiFPN([4, 8], 4, null as never), /BiFPN: expected options to be an object/],
    [
      'train.svgLineChart(null)',
      () => train.svgLineChart(null as never),
      /svgLineChart: expected series to be an array/,
    ],
    [
      'data.channelStats(null)',
      () => data.channelStats(null as never),
      /channelStats: expected ds to be an ImageDataset/,
    ],
    ['data.loadMnist(null)', () => data.loadMnist(null as never), /loadMnist: expected dir to be a directory path/],
    ['data.loadCifar10(7)', () => data.loadCifar10(7 as never), /loadCifar10: expected dir to be a directory path/],
    [
      'serializeSafetensors with null metadata',
      () => serializeSafetensors({ a: Tensor.zeros([1]) }, null as never),
      /serializeSafetensors: expected metadata to be an object of strings but received null/,
    ],
    [
      'serializeSafetensors(null)',
      () => serializeSafetensors(null as never),
      /serializeSafetensors: expected tensors to be an object or Map/,
    ],
    [
      'nn.setTemperature(null, 1)',
      () => nn.setTemperature(null as never, 1),
      /setTemperature: expected model to be a Module/,
    ],
    [
      'train.saveCheckpoint(file, null)',
      () => train.saveCheckpoint('/tmp/never-written.safetensors', null as never),
      /saveCheckpoint: expected content to be an object with a model/,
    ],
    ['ops.expand(x, null)', () => ops.expand(x, null as never), /expand: expected shape to be an array/],
    ['ops.sumTo(x, "a")', () => ops.sumTo(x, 'a' as never), /sumTo: expected shape to be an array/],
    ['ops.channelSums(null)', () => ops.channelSums(null as never), /channelSums: expected g to be a live Tensor/],
    ['UNet.forward(null)', () => models.unet().forward(null as never), /UNet.forward: expected input to be a Tensor/],
    [
      'WeightedFusion.forward(null)',
      () => new nn.WeightedFusion(2).forward(null as never),
      /WeightedFusion: expected an array of 2 Tensors/,
    ],
    ['Module.apply(null)', () => new nn.ReLU().apply(null as never), /Module.apply: expected fn to be a function/],
    [
      'LastLevelMaxPool.forward(null)',
      () => new nn.LastLevelMaxPool().forward(null as never),
      /LastLevelMaxPool: expected results to be a non-empty array of Tensors/,
    ],
    [
      'LastLevelP6P7.forward([x], null)',
      () => new nn.LastLevelP6P7(2, 2).forward([x], null as never),
      /LastLevelP6P7: expected inputs to be a non-empty array of Tensors/,
    ],
    ['train.accuracy(null, y)', () => train.accuracy(null as never, x), /accuracy: expected logits to be a Tensor/],
    ['train.meanIoU(5, y)', () => train.meanIoU(5 as never, x), /meanIoU: expected logits to be a Tensor/],
    ['data.subset(null, [0])', () => data.subset(null as never, [0]), /subset: expected ds to be an ImageDataset/],
    ['data.parseIdx(null)', () => data.parseIdx(null as never), /parseIdx: expected bytes to be a Uint8Array/],
    ['data.parseCifarBatch("x")', () => data.parseCifarBatch('x' as never), /parseCifarBatch: expected bytes/],
    ['parseSafetensors([])', () => parseSafetensors([] as never), /parseSafetensors: expected bytes/],
    ['tidy(null)', () => tidy(null as never), /tidy: expected fn to be a function/],
    ['tidy(async fn)', () => tidy((async () => 1) as never), /tidy: fn must be synchronous/],
    ['noGrad(5)', () => noGrad(5 as never), /noGrad: expected fn to be a function/],
    [
      'models.ResNet([2, 2], {})',
      () => new models.ResNet([2, 2] as never),
      /ResNet: expected blocks to be 4 block counts/,
    ],
    [
      'optim.TemperatureSchedule(null)',
      () => new optim.TemperatureSchedule(null as never),
      /TemperatureSchedule: expected model to be a Module/,
    ],
    [
      'optim.linearTemperature(0, null)',
      () => optim.linearTemperature(0, null as never),
      /linearTemperature: expected options/,
    ],
    ['data.take(null, 1)', () => data.take(null as never, 1), /take: expected ds to be an ImageDataset/],
    [
      'data.warpDataset(null, {})',
      () => data.warpDataset(null as never, {}),
      /warpDataset: expected ds to be an ImageDataset/,
    ],
    [
      'data.warpMask with a Float32Array',
      () =>
        data.warpMask(
          new Float32Array(4) as never,
          2,
          2,
          { m00: 1, m01: 0, m10: 0, m11: 1, field: null },
          new Uint8Array(4),
        ),
      /warpMask: expected src to be a Uint8Array of at least 4 values/,
    ],
    ['data.readCifarBatches(null)', () => data.readCifarBatches(null as never), /readCifarBatches: expected files/],
    ['distributed.launchInfo(null)', () => distributed.launchInfo(null as never), /launchInfo: expected env/],
    [
      'report.encodeGreyPng(null, 2, 2)',
      () => report.encodeGreyPng(null as never, 2, 2),
      /encodeGreyPng: expected pixels to be a Uint8Array but received null/,
    ],
    ['report.escapeXml(null)', () => report.escapeXml(null as never), /escapeXml: expected s to be a string/],
    ['report.htmlTable(null, [])', () => report.htmlTable(null as never, []), /htmlTable: expected header/],
    ['report.htmlFigures([null])', () => report.htmlFigures([null] as never), /htmlFigures: expected figures/],
    ['report.htmlReport(null)', () => report.htmlReport(null as never), /htmlReport: expected page/],
    [
      'report.svgBarChart(null, {})',
      () => report.svgBarChart(null as never, {} as never),
      /svgBarChart: expected groups/,
    ],
    ['Tensor.sharesStorageWith(null)', () => x.sharesStorageWith(null as never), /sharesStorageWith: expected other/],
    ['nn.mergeBands(null)', () => nn.mergeBands(null as never), /mergeBands: expected bands to be a pair/],
    [
      'nn.dynamicConvLayers(null)',
      () => nn.dynamicConvLayers(null as never),
      /dynamicConvLayers: expected model to be a Module/,
    ],
    [
      'data.warpImage with a null map',
      () => data.warpImage(new Float32Array(16), 1, 4, 4, null as never, 0, new Float32Array(16)),
      /warpImage: expected map to be an InverseMap/,
    ],
    [
      'data.warpImage with a short output',
      () =>
        data.warpImage(
          new Float32Array(16),
          1,
          4,
          4,
          { m00: 1, m01: 0, m10: 0, m11: 1, field: null },
          0,
          new Float32Array(3),
        ),
      /warpImage: expected out to be a Float32Array of at least 16 values/,
    ],
  ])('%s', (_name, call, message) => {
    expect(call).toThrow(ArgumentError);
    expect(call).toThrow(message);
  });

  test('train.evaluate with a null model rejects with an ArgumentError', async () => {
    const loader = new data.DataLoader(data.syntheticShapes({ length: 4, seed: 1 }), { batchSize: 2 });
    await expect(train.evaluate(null as never, loader)).rejects.toThrow(/evaluate: expected model to be a Module/);
  });

  test('train.evaluate with null options rejects with an ArgumentError', async () => {
    const loader = new data.DataLoader(data.syntheticShapes({ length: 4, seed: 1 }), { batchSize: 2 });
    await expect(train.evaluate(new nn.Linear(2, 2), loader, null as never)).rejects.toThrow(
      /evaluate: expected options to be an object/,
    );
  });
});

describe('sizes beyond memory are typed errors before anything is allocated', () => {
  test.each<[string, () => unknown]>([
    ['Tensor.full of 2^31 elements', () => Tensor.full([2 ** 31], 1)],
    ['Tensor.randn of 2^31 elements', () => Tensor.randn([2 ** 16, 2 ** 15])],
    ['Tensor.zeros past 2^32 elements', () => Tensor.zeros([2 ** 20, 2 ** 20])],
    ['conv2d with huge padding', () => ops.conv2d(x, w, { padding: 100_000 })],
    ['nn.Conv2d with huge channels', () => new nn.Conv2d(1_000_000, 1_000_000, { kernelSize: 3 })],
  ])('%s', (_name, call) => {
    const started = Date.now();
    expect(call).toThrow(OutOfMemoryError);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  test('element counts past 2^53 are ShapeErrors; FLEXCONV_MAX_ALLOC_MB caps one allocation', () => {
    expect(() => Tensor.empty([2 ** 30, 2 ** 30, 2 ** 30])).toThrow(/more than any tensor can hold/);
    const saved = process.env.FLEXCONV_MAX_ALLOC_MB;
    process.env.FLEXCONV_MAX_ALLOC_MB = '1';
    try {
      expect(() => Tensor.zeros([1024, 1024])).toThrow(
        /needs 4\.0 MB but 1\.0 MB is available \(FLEXCONV_MAX_ALLOC_MB\)/,
      );
      expect(Tensor.zeros([64, 64]).numel).toBe(4096);
    } finally {
      if (saved === undefined) delete process.env.FLEXCONV_MAX_ALLOC_MB;
      else process.env.FLEXCONV_MAX_ALLOC_MB = saved;
    }
  });
});
