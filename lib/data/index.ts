/** Datasets and loading: `import { data } from 'flexconv'`. */
export * from './dataset';
export { syntheticShapes, GEOMETRY_SPLITS, type SyntheticShapesOptions } from './synthetic';
export { GLYPH_NAMES } from './glyphs';
export { warpDataset, warpImage, warpMask, type GeometricTransformOptions, type InverseMap } from './geometric';
export * from './idx';
export * from './cifar';
export * from './loader';
