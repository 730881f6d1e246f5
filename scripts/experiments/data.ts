/**
 * The data of each experiment: a training set and the test sets every configuration is
 * measured on. The first test set is the headline (validation curves, summary tables).
 *
 * - Glyphs (built-in): training glyphs under GEOMETRY_SPLITS.train; tests under the wider
 *   GEOMETRY_SPLITS.test range (headline) and under the training range.
 * - Image files (Fashion-MNIST, CIFAR-10): the clean test set, then rotated, scaled, sheared
 *   and elastically warped copies of it (the geometric robustness evaluation).
 * - Segmentation: glyph scenes with the same two ranges.
 */
import * as data from '../../lib/data';
import type { ImageDataset } from '../../lib/data';
import { loadDatasets } from '../run_config';
import type { Settings } from './settings';

export interface TestSet {
  name: string;
  dataset: ImageDataset;
}

export interface ExperimentData {
  /** What the data is, for the report. */
  description: string;
  train: ImageDataset;
  tests: TestSet[];
}

/** The geometric robustness suite applied to a clean test set (pixels from outside the image are black). */
export const ROBUSTNESS_SUITE: readonly { name: string; transform: data.GeometricTransformOptions }[] = [
  { name: 'rotated 15°', transform: { rotation: [15, 15] } },
  { name: 'rotated 30°', transform: { rotation: [30, 30] } },
  { name: 'scaled 0.75', transform: { scale: [0.75, 0.75] } },
  { name: 'scaled 1.25', transform: { scale: [1.25, 1.25] } },
  { name: 'sheared 0.3', transform: { shear: [0.3, 0.3] } },
  { name: 'elastic 2 px', transform: { elastic: 2 } },
];

const SPLIT_SEED = 1_000_003;

export function classificationData(s: Settings, seed: number): ExperimentData {
  if (s.dataset === 'synthetic') {
    const { train: trainRange, test: widerRange } = data.GEOMETRY_SPLITS;
    const trainSize = s.trainSize ?? 2000;
    const testSize = s.testSize ?? 500;
    return {
      description:
        `built-in glyphs, 10 classes, 1x32x32: ${trainSize} training images (rotation ±${trainRange.rotation}°, shear ±${trainRange.shear}, elastic ${trainRange.elastic} px), ` +
        `${testSize} test images per test set, one from the training range and one from a wider range (rotation ±${widerRange.rotation}°, shear ±${widerRange.shear}, elastic ${widerRange.elastic} px, glyph sizes ${widerRange.scale?.join('-')})`,
      train: data.syntheticShapes({ ...trainRange, length: trainSize, seed }),
      tests: [
        {
          name: 'wider range',
          dataset: data.syntheticShapes({ ...widerRange, length: testSize, seed: seed + SPLIT_SEED }),
        },
        {
          name: 'training range',
          dataset: data.syntheticShapes({ ...trainRange, length: testSize, seed: seed + 2 * SPLIT_SEED }),
        },
      ],
    };
  }
  const { train, test } = loadDatasets(s.dataset, {
    dataDir: s.dataDir,
    trainSize: s.trainSize,
    testSize: s.testSize,
    seed,
  });
  const name = s.dataset === 'fashion-mnist' ? 'Fashion-MNIST' : 'CIFAR-10';
  return {
    description: `${name}: ${train.length} training images, ${test.length} test images (${train.channels}x${train.height}x${train.width}), clean and under ${ROBUSTNESS_SUITE.length} geometric transforms`,
    train,
    tests: [
      { name: 'clean', dataset: test },
      ...ROBUSTNESS_SUITE.map((r, i) => ({
        name: r.name,
        dataset: data.warpDataset(test, { ...r.transform, seed: seed + i + 1 }),
      })),
    ],
  };
}

/**
 * Scenes draw glyphs at about half the classification size (syntheticShapes), so the scale
 * ranges here are larger: training glyphs 6.5-9.5 px in radius, the wider test range
 * 5-9.5 px; rotation, shear and warps follow GEOMETRY_SPLITS.
 */
export const SEGMENTATION_SCALES = { train: [0.9, 1.2] as [number, number], test: [0.7, 1.2] as [number, number] };

export function segmentationData(s: Settings, seed: number): ExperimentData {
  const { train: trainRange, test: widerRange } = data.GEOMETRY_SPLITS;
  const train = { ...trainRange, scale: SEGMENTATION_SCALES.train };
  const wider = { ...widerRange, scale: SEGMENTATION_SCALES.test };
  const scenes = (range: data.SyntheticShapesOptions, length: number, at: number): ImageDataset =>
    data.syntheticShapes({ ...range, task: 'segmentation', length, seed: at });
  return {
    description: `built-in glyph scenes (1-3 glyphs per 1x32x32 image, 11 classes with background): ${s.segTrainSize} training images, ${s.segTestSize} test images per test set (wider range and training range)`,
    train: scenes(train, s.segTrainSize, seed),
    tests: [
      { name: 'wider range', dataset: scenes(wider, s.segTestSize, seed + SPLIT_SEED) },
      { name: 'training range', dataset: scenes(train, s.segTestSize, seed + 2 * SPLIT_SEED) },
    ],
  };
}
