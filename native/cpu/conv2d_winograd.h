// 3x3 stride-1 convolution by Winograd's minimal filtering F(2x2, 3x3) (Lavin & Gray, 2016),
// for the inference path whose weights are packed once (PackedConvWeights::winograd) and for
// training's convolutions (weights transformed per call), which take F(4x4, 3x3) once they have
// enough tiles (WinogradTile below; the same chunks and GEMMs with 36 points instead of 16).
//
// Each 2x2 block of output pixels (a tile) is computed from the 4x4 input patch under it:
//   Y = A^T [ (G g G^T) . (B^T d B) ] A
// so per tile and (output, input) channel pair the multiplication is 16 products instead of
// 36: the GEMM work of a 3x3 layer drops 2.25x, and the direct convolution already runs at
// ~85% of the cores' FMA peak, so this is the only way such a layer gets faster. The 16
// element-wise products over all channel pairs are 16 GEMMs, U[xi] (O x C, the transformed
// weights, packed once) times V[xi] (C x tiles, the transformed input), on the shared GEMM
// core. Tiles are processed in chunks whose V and M = U V stay in one thread's cache, one chunk
// per task (with too few tiles for a chunk per thread, the threads split each step instead);
// the output transform adds the bias and applies the fused epilogue (residual, ReLU).
//
// The transforms use only +-1 and 1/2 (exact in binary), so the result differs from the direct
// convolution by rounding alone: a few ulps of the largest partial sums (tests bound it).
// Every tile is computed the same way whatever the chunking: results do not depend on the
// thread count.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "cpu/gemm/gemm.h"
#include "math/conv_geometry.h"
#include "ops/conv2d.h"

namespace flexconv {
namespace cpu {

// The two tilings. F(2x2, 3x3) computes each 2x2 block of outputs from a 4x4 patch (16 products
// per tile and channel pair, 4 per output; transforms exact in binary). F(4x4, 3x3) computes
// 4x4 blocks from 6x6 patches (36 products per tile, 2.25 per output: the GEMMs' work a further
// 1.78x smaller) with transforms by 1/4, 1/6, 1/12 and 1/24, which round: its results differ from
// the direct convolution's by a few times more (tests bound both), and its 36 transformed
// matrices are 4x the weights. Packed (inference) weights keep F(2x2, 3x3); convolutions with
// enough tiles per call take F(4x4, 3x3) (winograd4_per_call_applies), transforming the weights
// for the call, packed or not (conv2d_forward).
enum class WinogradTile { F2x2, F4x4 };

// Whether weights of this shape get a Winograd copy when packed (3x3, one group, channel
// counts where the 16 GEMMs are wide enough to beat the direct convolution's single GEMM), on
// this CPU: only the AVX-512 transforms are fast enough to pay for themselves.
bool winograd_weights_apply(std::int64_t out_channels, std::int64_t in_per_group, std::int64_t kernel_h,
                            std::int64_t kernel_w, std::int64_t groups);

// The 16 (F4x4: 36) transformed weight matrices U[xi] = (G g G^T)[xi] (out_channels x
// in_channels each), packed as GEMM A operands. weight: [O, C, 3, 3]. Empty when a weight is not
// finite.
std::vector<gemm::PackedA> winograd_pack_weights(const float* weight, std::int64_t out_channels,
                                                 std::int64_t in_channels, WinogradTile tile = WinogradTile::F2x2);

// The same for the weight the stride-1 input gradient convolves with (conv2d_flip_weight: [C, O, 3,
// 3], each kernel turned by 180 degrees), read from `weight` ([O, C, 3, 3]) in place: C x O
// matrices, bit for bit winograd_pack_weights of the flipped weight. Empty when a weight is not
// finite (or has 2^31 floats or more).
std::vector<gemm::PackedA> winograd_pack_flipped_weights(const float* weight, std::int64_t out_channels,
                                                         std::int64_t in_channels, WinogradTile tile);

// The same matrices unpacked into u: points x O x C floats, point after point, each row-major (the
// layout of the weight gradient's dU below). False when a weight is not finite.
bool winograd_transform_weights(const float* weight, std::int64_t out_channels, std::int64_t in_channels,
                                WinogradTile tile, float* u);

// Whether winograd_forward runs g (with weights packed by winograd_pack_weights): stride 1,
// dilation 1, 3x3, one group, and at least 16 2x2 output tiles in the batch.
bool winograd_forward_applies(const math::Conv2dGeometry& g);

// Whether conv2d_forward without packed weights (training, the stride-1 input gradient) runs g
// by Winograd, transforming the weights for the call: as winograd_forward_applies, with this
// CPU's fast transforms, and enough tiles (128, and O C / 2048) to pay for transforming 16 O C
// floats.
bool winograd_per_call_applies(const math::Conv2dGeometry& g);

// Whether such a call takes F(4x4, 3x3) instead: as winograd_per_call_applies, with enough 4x4
// tiles to pay for transforming 36 O C floats.
bool winograd4_per_call_applies(const math::Conv2dGeometry& g);

// conv2d_forward (cpu/conv2d.h) of g with the weights as winograd_pack_weights packed them.
// Returns false, with `out` partly written, when the input holds inf or NaN: in a tile's 4x4
// patch such a value would reach outputs whose 3x3 window does not contain it (0 * inf), so
// the caller must then run the direct convolution, which keeps PyTorch's propagation.
// `tile`: the tiling u was packed for.
bool winograd_forward(const math::Conv2dGeometry& g, const gemm::PackedA* u, const float* input, const float* bias,
                      float* out, const ConvEpilogue& epilogue, WinogradTile tile = WinogradTile::F2x2);

// One image's winograd_forward in its three steps, for callers whose weights differ per image:
// dynamic convolution mixes each image's transformed matrix of point xi right before that
// point's GEMM, so the GEMM reads it from L1 (mixed all 16 at once, the matrices went out to L2
// and back: a quarter of a B128 8x8 dynamic forward). Applies to a batch of one that
// winograd_forward takes whose tiles fit one chunk (maps up to about 16x16 at 64 channels by
// F(2x2, 3x3), 32x32 by F(4x4, 3x3)).
bool winograd_image_applies(const math::Conv2dGeometry& g, WinogradTile tile = WinogradTile::F2x2);

class WinogradImage {
 public:
  // `like`: a matrix of U's shape (O x C, packed like winograd_pack_weights'), for the layouts.
  WinogradImage(const math::Conv2dGeometry& g, const gemm::PackedA& like, WinogradTile tile = WinogradTile::F2x2);
  ~WinogradImage();
  WinogradImage(const WinogradImage&) = delete;
  WinogradImage& operator=(const WinogradImage&) = delete;

  // Transformed points per tile (16 or 36): the matrices multiply() takes.
  int points() const;
  // Scratch floats of one image's V and M.
  std::size_t v_floats() const;
  std::size_t m_floats() const;
  // V of the image ([C, in_h, in_w]); false when it holds inf or NaN (see winograd_forward).
  bool transform_input(const float* image, float* v) const;
  // M[xi] = u V[xi], u the image's U[xi].
  void multiply(int xi, const gemm::PackedA& u, const float* v, float* m) const;
  // The output image ([O, out_h, out_w]) from all the M, plus bias (may be null).
  void transform_output(const float* m, const float* bias, float* out) const;

 private:
  struct Plan;
  std::unique_ptr<Plan> plan_;
};

// The weight gradient of the same convolutions (conv2d_backward_weight, cpu/conv2d.h) by the
// transpose of the forward algebra: per tile, Z = A dY A^T (the gradient of M) and V = B^T d B;
// dU[xi] (O x C) = sum over tiles of Z[xi] V[xi]^T, 16 GEMMs whose depth is the tile count; then
// dW = G^T dU G per channel pair. 16 products per tile and pair instead of 36; by F(4x4, 3x3)
// (36 GEMMs, 36 products per 4x4 tile instead of 144) where the forward of the same shape takes it
// per call (winograd4_per_call_applies).
// Applies to the geometries winograd_forward_applies takes, with enough tiles to pay for the 16
// O C floats of dU, at any thread count: the tiles are cut into two fixed halves (half of the
// images, or of one image's tiles for a batch of one) whose dU are added at the end; two threads
// take a half each, other counts run the halves one after the other with the work of each spread
// over the threads. The result does not depend on the thread count.
bool winograd_backward_weight_applies(const math::Conv2dGeometry& g);

// grad_weight [O, C, 3, 3] of g. Returns false, with grad_weight unset, when grad_out or the
// input holds inf or NaN (the caller then runs the direct path, which keeps PyTorch's
// propagation).
bool winograd_backward_weight(const math::Conv2dGeometry& g, const float* grad_out, const float* input,
                              float* grad_weight);

// The weight gradient [O, C, 3, 3] = G^T (du0 + du1) G from two partial sums of dU (laid out as
// winograd_transform_weights lays out U), added in that order (the pairs spread over the
// threads; the result does not depend on their count).
void winograd_inverse_weights(const float* du0, const float* du1, std::int64_t out_channels, std::int64_t in_channels,
                              WinogradTile tile, float* grad_weight);

// One image's dU, point by point, for callers whose weights differ per image: dynamic
// convolution adds each image's dU[xi] into its experts' (times the image's attention) in the
// transformed domain and takes the attention's gradient <dW, W_k> as <dU, U_k> (G^T . G is the
// adjoint of G . G^T), so that only the K expert gradients are transformed back. The tiling for
// a batch of one g: F(4x4, 3x3) where an image has 64 of its tiles (the GEMMs' depth), else
// F(2x2, 3x3) where it has 64 of those, with V and Z within 8 MB; none otherwise.
std::optional<WinogradTile> winograd_image_gradient_tile(const math::Conv2dGeometry& g);

class WinogradImageGradient {
 public:
  // g: a batch of one whose winograd_image_gradient_tile is `tile`.
  WinogradImageGradient(const math::Conv2dGeometry& g, WinogradTile tile);
  ~WinogradImageGradient();
  WinogradImageGradient(const WinogradImageGradient&) = delete;
  WinogradImageGradient& operator=(const WinogradImageGradient&) = delete;

  // Transformed points per tile (16 or 36).
  int points() const;
  // Scratch floats of one image's V and Z.
  std::size_t scratch_floats() const;
  // V and Z of the image (input [C, in_h, in_w], grad_out [O, out_h, out_w]) into scratch, the
  // channels spread over the threads; false when either holds inf or NaN.
  bool transform(const float* grad_out, const float* input, float* scratch) const;
  // du (O x C, rows ldu apart) = dU[xi] of the image transformed into scratch.
  void multiply(int xi, const float* scratch, float* du, std::int64_t ldu) const;

 private:
  struct Plan;
  std::unique_ptr<Plan> plan_;
};

}  // namespace cpu
}  // namespace flexconv
