// Packing of plain row-major matrices into the panel layouts described in gemm.h.
#include <cstring>

#include "cpu/gemm/gemm.h"

namespace flexconv {
namespace gemm {

void MatrixA::pack(int64_t m0, int64_t mc, int64_t k0, int64_t kc, int mr, float* dst) const {
  for (int64_t p = 0; p < mc; p += mr) {
    int rows = static_cast<int>(mc - p < mr ? mc - p : mr);
    for (int64_t k = 0; k < kc; ++k) {
      float* out = dst + k * mr;
      if (trans_) {
        // A^T is stored: rows of A are columns of data, so one k is contiguous over m.
        const float* src = data_ + (k0 + k) * ld_ + (m0 + p);
        std::memcpy(out, src, sizeof(float) * rows);
      } else {
        const float* src = data_ + (m0 + p) * ld_ + (k0 + k);
        for (int i = 0; i < rows; ++i) out[i] = src[i * ld_];
      }
      for (int i = rows; i < mr; ++i) out[i] = 0.0f;
    }
    dst += kc * mr;
  }
}

void MatrixB::pack(int64_t k0, int64_t kc, int64_t n0, int64_t nc, int nr, float* dst) const {
  for (int64_t p = 0; p < nc; p += nr) {
    int cols = static_cast<int>(nc - p < nr ? nc - p : nr);
    for (int64_t k = 0; k < kc; ++k) {
      float* out = dst + k * nr;
      if (trans_) {
        const float* src = data_ + (n0 + p) * ld_ + (k0 + k);
        for (int j = 0; j < cols; ++j) out[j] = src[j * ld_];
      } else {
        const float* src = data_ + (k0 + k) * ld_ + (n0 + p);
        std::memcpy(out, src, sizeof(float) * cols);
      }
      for (int j = cols; j < nr; ++j) out[j] = 0.0f;
    }
    dst += kc * nr;
  }
}

}  // namespace gemm
}  // namespace flexconv
