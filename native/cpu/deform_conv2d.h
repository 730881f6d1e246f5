// What the CPU deformable convolution offers beyond the contract of ops/deform_conv2d.h: its
// weights packed once for repeated forwards (inference; lib/nn/fold.ts), as conv2d's are.
#pragma once
#include <cstdint>
#include <memory>

#include "cpu/conv2d.h"
#include "math/deform_geometry.h"

namespace flexconv {
namespace cpu {

// weight [out_channels, in_per_group, kernel_h, kernel_w] reordered tap-major and packed per
// group (PackedConvWeights::Order::TapMajor). The result owns its copy.
std::unique_ptr<PackedConvWeights> deform_conv2d_pack_weights(const float* weight, std::int64_t out_channels,
                                                              std::int64_t in_per_group, std::int64_t kernel_h,
                                                              std::int64_t kernel_w, std::int64_t groups);
// Whether `p` was packed by deform_conv2d_pack_weights from a weight of g's shape and groups.
bool deform_conv2d_packed_fits(const math::DeformConv2dGeometry& g, const PackedConvWeights& p);
// deform_conv2d_forward with the weight already packed (deform_conv2d_packed_fits(g, packed)
// must hold); the same arithmetic, so the same bits. The epilogue (inference: + residual
// [N, O, OH, OW], then ReLU; ops/conv2d.h) runs while each image's output is written, as
// conv2d's does.
void deform_conv2d_forward_prepacked(const math::DeformConv2dGeometry& g, const float* input, const float* offset,
                                     const float* mask, const PackedConvWeights& packed, const float* bias,
                                     float* output, const ConvEpilogue& epilogue = {});

}  // namespace cpu
}  // namespace flexconv
