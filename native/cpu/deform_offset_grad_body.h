// The loop body shared by the three builds of accumulate_offset_grad (deform_offset_grad.h).
// Included inside an anonymous namespace of each ISA's file, so every copy keeps internal
// linkage and is compiled with that file's instruction set only.
inline void accumulate_offset_grad_body(const flexconv::cpu::OffsetGradPoints& pts, const float* __restrict plane,
                                        std::int64_t wp, const float* __restrict grad_col, float* __restrict gy,
                                        float* __restrict gx, float* __restrict gm) {
  const std::int32_t* __restrict index = pts.index;
  const float* __restrict hy = pts.hy;
  const float* __restrict ly = pts.ly;
  const float* __restrict hx = pts.hx;
  const float* __restrict lx = pts.lx;
  const std::int32_t w = static_cast<std::int32_t>(wp);
  for (std::int64_t j = 0; j < pts.count; ++j) {
    const std::int32_t i = index[j];
    const float v00 = plane[i], v01 = plane[i + 1], v10 = plane[i + w], v11 = plane[i + w + 1];
    const float g = grad_col[j];
    const float top = hx[j] * v00 + lx[j] * v01;  // rows interpolated along x
    const float bot = hx[j] * v10 + lx[j] * v11;
    gm[j] += g * (hy[j] * top + ly[j] * bot);
    gy[j] += g * (bot - top);
    gx[j] += g * (hy[j] * (v01 - v00) + ly[j] * (v11 - v10));
  }
}
