// Packing of plain row-major matrices into the panel layouts described in gemm.h.
#include <cstring>

#include "cpu/gemm/gemm.h"
#include "cpu/gemm/pack_kernels.h"

namespace flexconv {
namespace gemm {

void pack_panel_transposed(const float* src, int64_t ld, int rows, int width, int64_t kc, float* dst) {
  using namespace cpu;  // the per-ISA copies live in cpu::isa_<set>
  FLEXCONV_PICK_ISA(pack_panel_transposed)(src, ld, rows, width, kc, dst);
}

void pack_panel_rows(const float* src, int64_t ld, int cols, int width, int64_t kc, float* dst) {
  if (cols == width) {
    for (int64_t k = 0; k < kc; ++k) std::memcpy(dst + k * width, src + k * ld, sizeof(float) * width);
    return;
  }
  for (int64_t k = 0; k < kc; ++k) {
    float* out = dst + k * width;
    std::memcpy(out, src + k * ld, sizeof(float) * cols);
    for (int j = cols; j < width; ++j) out[j] = 0.0f;
  }
}

void MatrixA::pack(int64_t m0, int64_t mc, int64_t k0, int64_t kc, int mr, float* dst) const {
  for (int64_t p = 0; p < mc; p += mr) {
    const int rows = static_cast<int>(mc - p < mr ? mc - p : mr);
    if (trans_) {
      // A^T is stored: one k of the panel is contiguous over m.
      pack_panel_rows(data_ + k0 * ld_ + (m0 + p), ld_, rows, mr, kc, dst);
    } else {
      pack_panel_transposed(data_ + (m0 + p) * ld_ + k0, ld_, rows, mr, kc, dst);
    }
    dst += kc * mr;
  }
}

void MatrixB::pack(int64_t k0, int64_t kc, int64_t n0, int64_t nc, int nr, float* dst) const {
  for (int64_t p = 0; p < nc; p += nr) {
    const int cols = static_cast<int>(nc - p < nr ? nc - p : nr);
    if (trans_) {
      // B^T is stored: the panel's columns are rows of the data.
      pack_panel_transposed(data_ + (n0 + p) * ld_ + k0, ld_, cols, nr, kc, dst);
    } else {
      pack_panel_rows(data_ + k0 * ld_ + (n0 + p), ld_, cols, nr, kc, dst);
    }
    dst += kc * nr;
  }
}

}  // namespace gemm
}  // namespace flexconv
