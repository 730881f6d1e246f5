// Direct convolution for thin layers: see conv2d_direct.h for when and why.
#include "cpu/conv2d_direct.h"

#include <algorithm>
#include <vector>

#include "core/alloc.h"
#include "core/cpu_features.h"
#include "core/thread_pool.h"
#include "cpu/bordered_rows.h"
#include "cpu/plane_tasks.h"

namespace flexconv {
namespace cpu {
namespace {

using math::Conv2dGeometry;

// Floats past a bordered block that a vector load may touch (the widest vector).
constexpr std::int64_t kReadSlack = 16;
// Output rows per task: enough tasks for the threads to share a batch of one, and rows enough
// that the bordered copy's extra kh - 1 rows per task stay a small part of it.
constexpr std::int64_t kMinRowsPerTask = 4;

// Images whose weight gradients the kernel sums in registers before one reduction across lanes:
// fixed, so the sums' order does not depend on the thread count.
constexpr std::int64_t kGradGroupImages = 4;

thread_local ThreadScratch t_bordered;

// One block of output channels: [o0, o0 + count), its kernels rearranged for the kernel.
struct OutputBlock {
  std::int64_t o0;
  int count, width;
  std::vector<float> weights;  // [channel][tap][width]
};

std::vector<OutputBlock> output_blocks(const Conv2dGeometry& g, const float* weight, int full) {
  const std::int64_t C = g.in_channels, taps = g.kernel_h * g.kernel_w;
  std::vector<OutputBlock> blocks;
  for (std::int64_t o0 = 0; o0 < g.out_channels; o0 += full) {
    const int count = static_cast<int>(std::min<std::int64_t>(full, g.out_channels - o0));
    const int width = count <= full / 2 ? full / 2 : full;
    OutputBlock b{o0, count, width, std::vector<float>(static_cast<size_t>(C * taps * width), 0.0f)};
    for (int o = 0; o < count; ++o) {
      for (std::int64_t c = 0; c < C; ++c) {
        for (std::int64_t t = 0; t < taps; ++t) {
          b.weights[static_cast<size_t>((c * taps + t) * width + o)] = weight[((o0 + o) * C + c) * taps + t];
        }
      }
    }
    blocks.push_back(std::move(b));
  }
  return blocks;
}

// The padded rows [r0, r0 + rows) of every channel of one image into `dst` (planes of rows x
// row floats): input row r - pad_h with pad_w zeros on its left, zeros to the row's end, and
// rows outside the image all zeros.
void copy_bordered(const Conv2dGeometry& g, const float* image, std::int64_t r0, std::int64_t rows, std::int64_t row,
                   float* dst) {
  for (std::int64_t c = 0; c < g.in_channels; ++c) {
    const float* plane = image + c * g.in_h * g.in_w;
    for (std::int64_t r = 0; r < rows; ++r) {
      const std::int64_t iy = r0 + r - g.pad_h;
      bordered_row(iy >= 0 && iy < g.in_h ? plane + iy * g.in_w : nullptr, g.in_w, g.pad_w, row,
                   dst + (c * rows + r) * row);
    }
  }
}

}  // namespace

bool direct_conv_applies(const Conv2dGeometry& g) {
  if (g.groups != 1 || g.stride_h != 1 || g.stride_w != 1 || g.kernel_h * g.kernel_w < 2) return false;
  // Measured against the GEMM paths (1 thread, N32 32x32 unless said; time direct / GEMM): 1 ->
  // 16 channels forward 0.12, forward + weight gradient 0.19; 3 -> 16 0.21, 0.33; 8 -> 8 0.41,
  // 0.37; 16 -> 16 0.53, 0.54 (0.49-0.60 on 64x64 and 128x128 maps); 16 -> 27 0.6, 0.66; 16 ->
  // 32 0.88-0.94, 0.93-0.95 (1.04 on 16x16 maps); from 64 outputs the GEMM's packing is spread
  // over enough rows: 3 -> 64 1.07, 16 -> 64 1.01-1.03, 8 -> 128 1.2. Wider inputs with fewer
  // than 32 outputs (a U-Net decoder's last convs, offset predictors), against kn2row: N16 32 ->
  // 16 forward 0.63, forward + backward 0.81 (2 threads 0.88); 64 -> 16 0.80, 0.94 (1.02); N8 64 ->
  // 18 0.86, 0.96 (1.01); N32 48 -> 27 at 2 threads 0.93. With 32 or more on both sides a 3x3
  // conv runs by Winograd, 1.5x faster than this. Two or three outputs (a 3-channel stem's input
  // gradient) fill half a block and still gain, 16 -> 3 0.56-0.66; one output (16 -> 1) is 1.6x
  // slower than kn2row's single GEMM row.
  if (g.out_channels < 2 || g.out_channels > 32) return false;
  if (g.in_channels > (g.out_channels < 32 ? 64 : 16)) return false;
  // Whole vectors of output pixels along a row (a 4x4 map would fill a quarter of each).
  return g.out_w >= 16;
}

bool direct_conv_weight_grad_applies(const Conv2dGeometry& g) {
  return direct_conv_applies(g) && g.kernel_h == 3 && g.kernel_w == 3 && g.dil_h == 1 && g.dil_w == 1;
}

void direct_conv_forward(const Conv2dGeometry& g, const float* input, const float* weight, const float* bias,
                         float* out, const ConvEpilogue& ep) {
  const int full = FLEXCONV_PICK_ISA(direct_conv_block_width)();
  const auto rows_kernel = FLEXCONV_PICK_ISA(direct_conv_rows);
  const std::vector<OutputBlock> blocks = output_blocks(g, weight, full);
  const std::int64_t P = g.out_h * g.out_w, in_image = g.in_channels * g.in_h * g.in_w;
  // Padded rows are the input's width plus its borders; stride 1 reads columns up to
  // out_w - 1 + dil_w (kw - 1) <= in_w + 2 pad_w - 1.
  const std::int64_t row = g.in_w + 2 * g.pad_w;
  const std::int64_t halo = g.dil_h * (g.kernel_h - 1);
  // Output rows [oy0, oy1) of image b, from its bordered copy.
  const auto image_rows = [&](std::int64_t b, std::int64_t oy0, std::int64_t oy1) {
    const std::int64_t rows = oy1 - oy0 + halo;
    AlignedBuffer<float> overflow;
    float* bordered = t_bordered.get(static_cast<size_t>(g.in_channels * rows * row + kReadSlack), overflow);
    copy_bordered(g, input + b * in_image, oy0, rows, row, bordered);
    std::fill(bordered + g.in_channels * rows * row, bordered + g.in_channels * rows * row + kReadSlack, 0.0f);
    for (const OutputBlock& blk : blocks) {
      const std::int64_t first = (b * g.out_channels + blk.o0) * P;
      DirectConvBlock call{bordered,
                           oy0,
                           rows * row,
                           row,
                           blk.weights.data(),
                           blk.count,
                           blk.width,
                           bias ? bias + blk.o0 : nullptr,
                           ep.residual ? ep.residual + first : nullptr,
                           ep.relu,
                           out + first,
                           oy0,
                           oy1};
      rows_kernel(g, call);
    }
  };
  const PlaneTasks split = plane_tasks(g.batch, g.out_h, g.out_channels * P, num_threads(), kMinRowsPerTask);
  parallel_tasks(split.tasks, [&](std::int64_t task, int) {
    const PlaneTasks::Range r = split.range(task);
    for (std::int64_t b = r.unit0; b < r.unit1; ++b) image_rows(b, r.oy0, r.oy1);
  });
}

void direct_conv_backward_weight(const Conv2dGeometry& g, const float* grad_out, const float* input,
                                 float* grad_weight) {
  const int width = FLEXCONV_PICK_ISA(direct_conv_grad_block_width)();
  const auto grad_kernel = FLEXCONV_PICK_ISA(direct_conv_weight_grad);
  const std::int64_t C = g.in_channels, O = g.out_channels, per_group = O * C * 9;
  const std::int64_t P = g.out_h * g.out_w, in_image = C * g.in_h * g.in_w;
  // Stride 1 reads padded rows up to out_h - 1 + 2 = in_h + 2 pad_h - 1, columns likewise; rows
  // start on a vector boundary (the AVX-512 kernel loads them aligned, then shifts lanes).
  const std::int64_t row = (g.in_w + 2 * g.pad_w + kReadSlack - 1) / kReadSlack * kReadSlack;
  const std::int64_t rows = g.in_h + 2 * g.pad_h, plane = rows * row;
  const std::int64_t blocks = (O + width - 1) / width;
  const std::int64_t groups = (g.batch + kGradGroupImages - 1) / kGradGroupImages;
  // Groups bordered at a time: a few per thread, so the copy stays small for large batches.
  const std::int64_t chunk = std::min<std::int64_t>(groups, 2 * num_threads());
  const std::int64_t chunk_floats = chunk * kGradGroupImages * C * plane;
  AlignedBuffer<float> bordered(static_cast<size_t>(chunk_floats + kReadSlack));
  AlignedBuffer<float> group_grads(static_cast<size_t>(groups * per_group));
  std::fill(bordered.data() + chunk_floats, bordered.data() + chunk_floats + kReadSlack, 0.0f);
  for (std::int64_t g0 = 0; g0 < groups; g0 += chunk) {
    const std::int64_t b0 = g0 * kGradGroupImages;
    const std::int64_t nb = std::min(chunk * kGradGroupImages, g.batch - b0);
    parallel_for(nb, [&](std::int64_t i0, std::int64_t i1) {
      for (std::int64_t i = i0; i < i1; ++i) {
        copy_bordered(g, input + (b0 + i) * in_image, 0, rows, row, bordered.data() + i * C * plane);
      }
    });
    const std::int64_t ng = std::min(chunk, groups - g0);
    parallel_tasks(ng * blocks, [&](std::int64_t task, int) {
      const std::int64_t k = task / blocks, o0 = (task % blocks) * width, first = k * kGradGroupImages;
      const int images = static_cast<int>(std::min(kGradGroupImages, nb - first));
      const int count = static_cast<int>(std::min<std::int64_t>(width, O - o0));
      DirectConvGradBlock call{bordered.data() + first * C * plane,
                               plane,
                               row,
                               grad_out + ((b0 + first) * O + o0) * P,
                               O * P,
                               images,
                               count,
                               group_grads.data() + (g0 + k) * per_group + o0 * C * 9};
      grad_kernel(g, call);
    });
  }
  // The groups' gradients added in order (in double), whatever the thread count.
  parallel_for(
      per_group,
      [&](std::int64_t k0, std::int64_t k1) {
        for (std::int64_t k = k0; k < k1; ++k) {
          double total = 0.0;
          for (std::int64_t i = 0; i < groups; ++i) total += group_grads[static_cast<size_t>(i * per_group + k)];
          grad_weight[k] = static_cast<float>(total);
        }
      },
      64);
}

}  // namespace cpu
}  // namespace flexconv
