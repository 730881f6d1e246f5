// The virtual matrices of conv2d as GEMM operands (cpu/gemm/gemm.h packers), so no column
// buffer is ever materialised:
//   ColumnSource            col_g  [Cg*kh*kw, images*P]  (forward's B: im2col of one group)
//   TransposedColumnSource  col_g^T [batch*P, Cg*kh*kw]  (grad_weight's B)
//   RowsAcrossImagesSource  X[rows, images*P] where X[r, (b, p)] = data[b*image + (row0+r)*P + p]
//   RowsAcrossImagesA       the same matrix as an A operand (grad_out in grad_weight)
// and col2im_plane, the scatter back into one input plane. P = out_h * out_w.
// Packers copy whole row segments: for stride 1 a column run of one output row is a
// contiguous run of one input row, with zero padding filled per segment, not per element.
#pragma once
#include <cstdint>
#include <vector>

#include "cpu/gemm/gemm.h"
#include "math/conv_geometry.h"

namespace flexconv {
namespace cpu {

class ColumnSource final : public gemm::BSource {
 public:
  ColumnSource(const math::Conv2dGeometry& g, const float* input, std::int64_t group, std::int64_t image0,
               std::int64_t images);
  void pack(std::int64_t k0, std::int64_t kc, std::int64_t n0, std::int64_t nc, int nr, float* dst) const override;

 private:
  void pack_small(std::int64_t k0, std::int64_t kc, std::int64_t n0, std::int64_t nc, int nr, float* dst) const;
  const math::Conv2dGeometry& g_;
  const float* input_;
  std::int64_t group_, image0_, images_;
  std::vector<std::int32_t> taps_;        // small images only: see tap_table()
  std::vector<std::int64_t> tap_shifts_;  // with taps_, where they are pixel index + a shift: see tap_shifts()
};

class TransposedColumnSource final : public gemm::BSource {
 public:
  TransposedColumnSource(const math::Conv2dGeometry& g, const float* input, std::int64_t group);
  void pack(std::int64_t k0, std::int64_t kc, std::int64_t n0, std::int64_t nc, int nr, float* dst) const override;

 private:
  void pack_small(std::int64_t k0, std::int64_t kc, std::int64_t n0, std::int64_t nc, int nr, float* dst) const;
  const math::Conv2dGeometry& g_;
  const float* input_;
  std::int64_t group_;
  std::vector<std::int32_t> taps_;
};

class RowsAcrossImagesSource final : public gemm::BSource {
 public:
  RowsAcrossImagesSource(const float* data, std::int64_t image_stride, std::int64_t plane, std::int64_t row0,
                         std::int64_t image0, std::int64_t images)
      : data_(data), image_stride_(image_stride), plane_(plane), row0_(row0), image0_(image0), images_(images) {}
  void pack(std::int64_t k0, std::int64_t kc, std::int64_t n0, std::int64_t nc, int nr, float* dst) const override;

 private:
  const float* data_;
  std::int64_t image_stride_, plane_, row0_, image0_, images_;
};

class RowsAcrossImagesA final : public gemm::ASource {
 public:
  RowsAcrossImagesA(const float* data, std::int64_t image_stride, std::int64_t plane, std::int64_t row0,
                    std::int64_t images)
      : data_(data), image_stride_(image_stride), plane_(plane), row0_(row0), images_(images) {}
  void pack(std::int64_t m0, std::int64_t mc, std::int64_t k0, std::int64_t kc, int mr, float* dst) const override;

 private:
  const float* data_;
  std::int64_t image_stride_, plane_, row0_, images_;
};

// plane[in_h, in_w] = sum over kernel taps of the column rows tile[(i*kw + j) * ld + p]
// scattered to the input pixels output pixel p read (overwrites the plane).
void col2im_plane(const math::Conv2dGeometry& g, const float* tile, std::int64_t ld, float* plane);

}  // namespace cpu
}  // namespace flexconv
