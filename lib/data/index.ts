/** Datasets and loading: `import { data } from 'flexconv'`. */
export * from './dataset';
export { syntheticShapes, type SyntheticShapesOptions } from './synthetic';
export { GLYPH_NAMES } from './glyphs';
export * from './idx';
export * from './cifar';
export * from './loader';
