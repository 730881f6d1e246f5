/**
 * Smooth random displacement fields for elastic warps (Simard et al. 2003, in the cheap form):
 * Gaussian displacements on a coarse 4x4 grid, bilinearly upsampled to every pixel. Shared by
 * the built-in glyph generator and the geometric transforms applied to any image dataset.
 */
import type { Generator } from '../random';

const ELASTIC_GRID = 4;
// Module constants: global lookups (Math) are slow inside jest's vm contexts.
const { min, floor } = Math;

/**
 * Fills `out` (2 * height * width values, [dx, dy] per pixel, row-major) with a smooth field
 * whose grid values are N(0, amplitude^2) pixels.
 */
export function elasticField(g: Generator, height: number, width: number, amplitude: number, out: Float32Array): void {
  const n = ELASTIC_GRID;
  const grid = new Float32Array(2 * n * n);
  for (let i = 0; i < grid.length; i++) grid[i] = g.normal() * amplitude;
  const stepY = Math.max(1, height - 1) / (n - 1);
  const stepX = Math.max(1, width - 1) / (n - 1);
  for (let y = 0; y < height; y++) {
    const gy = y / stepY;
    const y0 = min(n - 2, floor(gy));
    const fy = gy - y0;
    for (let x = 0; x < width; x++) {
      const gx = x / stepX;
      const x0 = min(n - 2, floor(gx));
      const fx = gx - x0;
      for (let k = 0; k < 2; k++) {
        const b = k * n * n;
        const v00 = grid[b + y0 * n + x0];
        const v01 = grid[b + y0 * n + x0 + 1];
        const v10 = grid[b + (y0 + 1) * n + x0];
        const v11 = grid[b + (y0 + 1) * n + x0 + 1];
        out[(y * width + x) * 2 + k] = (1 - fy) * ((1 - fx) * v00 + fx * v01) + fy * ((1 - fx) * v10 + fx * v11);
      }
    }
  }
}
