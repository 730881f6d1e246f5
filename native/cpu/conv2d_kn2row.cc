// kn2row conv2d: see conv2d_kn2row.h for when and why.
#include "cpu/conv2d_kn2row.h"

#include <algorithm>
#include <vector>

#include "core/alloc.h"
#include "core/cpu_features.h"
#include "core/thread_pool.h"
#include "cpu/conv2d_columns.h"
#include "cpu/conv2d_columns_simd.h"
#include "cpu/gemm/gemm.h"

namespace flexconv {
namespace cpu {
namespace {

using math::Conv2dGeometry;

// Up to the offset (2*9) and offset + mask (3*9) predictors of 3x3 deformable convs. From
// about 32 outputs on, the im2col GEMM is as fast: its packing is amortised over enough rows
// (`npm run bench -- conv`, rows "few outputs", against the im2col path of the same build).
constexpr std::int64_t kMaxOutChannels = 27;
// Floats of the per-tap product Z (or the shifted gradient) held at once: a few images'
// worth, so Z is still in cache when the shift-add pass reads it.
constexpr std::int64_t kScratchFloats = std::int64_t(1) << 19;
// ... and per thread when the threads take groups of images each (kn2row_forward).
constexpr std::int64_t kTaskScratchFloats = std::int64_t(1) << 18;
// From this many input pixels in all, the weight gradient is two halves of the batch.
constexpr std::int64_t kHalvesMinPixels = 2048;

std::int64_t taps(const Conv2dGeometry& g) { return g.kernel_h * g.kernel_w; }

// Images per GEMM: enough to give it a wide N, few enough to keep the scratch small.
std::int64_t images_per_chunk(const Conv2dGeometry& g) {
  const std::int64_t per_image = taps(g) * g.out_channels * g.in_h * g.in_w;
  return std::max<std::int64_t>(1, std::min(g.batch, kScratchFloats / std::max<std::int64_t>(1, per_image)));
}

// Images per task when threads take whole groups of images (forward): a Z within
// kTaskScratchFloats (one thread's L2), at least four tasks where the batch allows.
std::int64_t images_per_task(const Conv2dGeometry& g) {
  const std::int64_t per_image = taps(g) * g.out_channels * g.in_h * g.in_w;
  const std::int64_t fit = std::max<std::int64_t>(1, kTaskScratchFloats / std::max<std::int64_t>(1, per_image));
  return std::max<std::int64_t>(1, std::min(fit, (g.batch + 3) / 4));
}

// The output channels in parts, each packed as its own matrix (kn2row_pack_weights): a single
// image on two threads runs one part per thread. Two parts (one for a single output).
struct OutputPart {
  std::int64_t o0, count;
};
constexpr std::int64_t kOutputParts = 2;
std::vector<OutputPart> output_parts(std::int64_t O) {
  std::vector<OutputPart> parts;
  const std::int64_t n = std::max<std::int64_t>(1, std::min(kOutputParts, O));
  for (std::int64_t p = 0; p < n; ++p) parts.push_back({p * O / n, (p + 1) * O / n - p * O / n});
  return parts;
}

// Where tap (i, j) reads relative to the output pixel: input (oy + dy, ox + dx).
struct TapShift {
  std::int64_t dy, dx;
};
TapShift tap_shift(const Conv2dGeometry& g, std::int64_t tap) {
  const std::int64_t i = tap / g.kernel_w, j = tap % g.kernel_w;
  return {i * g.dil_h - g.pad_h, j * g.dil_w - g.pad_w};
}

// out_plane[oy, ox] (+)= z_plane[oy + dy, ox + dx] where that input pixel exists.
void add_shifted(const Conv2dGeometry& g, const float* z_plane, TapShift s, float* out_plane) {
  std::int64_t y_lo, y_hi, x_lo, x_hi;
  math::conv_valid_range(s.dy, 1, g.in_h, g.out_h, &y_lo, &y_hi);
  math::conv_valid_range(s.dx, 1, g.in_w, g.out_w, &x_lo, &x_hi);
  for (std::int64_t oy = y_lo; oy < y_hi; ++oy) {
    const float* src = z_plane + (oy + s.dy) * g.in_w + s.dx;
    float* dst = out_plane + oy * g.out_w;
    for (std::int64_t ox = x_lo; ox < x_hi; ++ox) dst[ox] += src[ox];
  }
}

// g_plane[iy, ix] = grad_plane[iy - dy, ix - dx] where that output pixel exists, else 0:
// the adjoint of add_shifted.
void shifted_gradient(const Conv2dGeometry& g, const float* grad_plane, TapShift s, float* g_plane) {
  std::fill(g_plane, g_plane + g.in_h * g.in_w, 0.0f);
  std::int64_t y_lo, y_hi, x_lo, x_hi;
  math::conv_valid_range(s.dy, 1, g.in_h, g.out_h, &y_lo, &y_hi);
  math::conv_valid_range(s.dx, 1, g.in_w, g.out_w, &x_lo, &x_hi);
  for (std::int64_t oy = y_lo; oy < y_hi; ++oy) {
    const float* src = grad_plane + oy * g.out_w;
    float* dst = g_plane + (oy + s.dy) * g.in_w + s.dx;
    std::copy(src + x_lo, src + x_hi, dst + x_lo);
  }
}

// The shifted output gradient, transposed, straight from grad_out (no `shifted` buffer and no
// transposing pass): rows are the input pixels of images [b0, b0 + images), columns
// (o, KK - 1 - tap). Column (o, t') of pixel (iy, ix) is grad_out[o] at (iy - dy, ix - dx) of
// tap KK - 1 - t': with the kernel flipped, that is a stride-1 column-matrix gather of grad_out
// (tap (i', j') reads row iy + pad_h - (kh-1)*dil_h + i'*dil_h), which the AVX-512 transposing
// column packer does in one pass.
class ShiftedGradientSource final : public gemm::BSource {
 public:
  ShiftedGradientSource(const Conv2dGeometry& g, const float* grad_out) : g_(g), grad_out_(grad_out) {}
  void pack(std::int64_t k0, std::int64_t kc, std::int64_t n0, std::int64_t nc, int nr, float* dst) const override {
    const Conv2dGeometry& g = g_;
    const std::int64_t P_in = g.in_h * g.in_w, image = g.out_channels * g.out_h * g.out_w;
    std::vector<ColumnRun> runs;
    for (std::int64_t n = k0, t = 0; t < kc;) {
      const std::int64_t b = n / P_in, pix = n - b * P_in, iy = pix / g.in_w, ix = pix - iy * g.in_w;
      const std::int64_t len = std::min(g.in_w - ix, kc - t);
      runs.push_back({grad_out_ + b * image, iy + g.pad_h - (g.kernel_h - 1) * g.dil_h,
                      ix + g.pad_w - (g.kernel_w - 1) * g.dil_w, len, t});
      n += len;
      t += len;
    }
    // shifted_source_usable checked that this copy packs.
    FLEXCONV_PICK_ISA(pack_transposed_columns_stride1)
    (runs.data(), static_cast<std::int64_t>(runs.size()), kc, n0, nc, nr, g.kernel_h, g.kernel_w, g.dil_h, g.dil_w,
     g.out_h, g.out_w, dst);
  }

 private:
  const Conv2dGeometry& g_;
  const float* grad_out_;
};

// Whether ShiftedGradientSource can pack for the GEMM's micro-kernel here.
bool shifted_source_usable(const Conv2dGeometry& g) {
  return FLEXCONV_PICK_ISA(has_vector_column_packers)() && gemm::tile_shape().nr % 16 == 0 &&
         taps(g) <= kTransposedPackerMaxTaps;
}

}  // namespace

bool kn2row_weights_apply(std::int64_t out_channels, std::int64_t kernel_h, std::int64_t kernel_w,
                          std::int64_t groups) {
  return groups == 1 && kernel_h * kernel_w >= 2 && out_channels <= kMaxOutChannels;
}

bool kn2row_applies(const Conv2dGeometry& g) {
  if (g.stride_h != 1 || g.stride_w != 1) return false;
  if (!kn2row_weights_apply(g.out_channels, g.kernel_h, g.kernel_w, g.groups)) return false;
  // Z covers every input pixel: only worth it when (nearly) every input pixel is an output.
  return 4 * g.in_h * g.in_w <= 5 * g.out_h * g.out_w;
}

std::vector<gemm::PackedA> kn2row_pack_weights(const float* weight, std::int64_t out_channels, std::int64_t in_channels,
                                               std::int64_t kernel_h, std::int64_t kernel_w) {
  const std::int64_t O = out_channels, C = in_channels, KK = kernel_h * kernel_w;
  std::vector<gemm::PackedA> parts;
  for (const OutputPart& part : output_parts(O)) {
    // Weights by tap: wk[(tap, o), c] = weight[part.o0 + o, c, tap].
    AlignedBuffer<float> wk(static_cast<size_t>(KK * part.count * C));
    for (std::int64_t o = 0; o < part.count; ++o) {
      for (std::int64_t c = 0; c < C; ++c) {
        for (std::int64_t t = 0; t < KK; ++t) {
          wk[static_cast<size_t>((t * part.count + o) * C + c)] = weight[((part.o0 + o) * C + c) * KK + t];
        }
      }
    }
    parts.emplace_back(KK * part.count, C, gemm::MatrixA(wk.data(), C, false));
  }
  return parts;
}

void kn2row_forward(const Conv2dGeometry& g, const float* input, const float* weight, const float* bias, float* out,
                    const std::vector<gemm::PackedA>* prepacked) {
  const std::int64_t O = g.out_channels, C = g.in_channels, KK = taps(g);
  const std::int64_t P_in = g.in_h * g.in_w, P_out = g.out_h * g.out_w;
  // Packed once for every chunk (or once for every call, when prepacked).
  std::vector<gemm::PackedA> per_call;
  if (!prepacked) per_call = kn2row_pack_weights(weight, O, C, g.kernel_h, g.kernel_w);
  const std::vector<gemm::PackedA>& packed = prepacked ? *prepacked : per_call;
  const std::vector<OutputPart> parts = output_parts(O);
  // Z of output part p for images [b0, b0 + nb) into z, then those output planes; each output
  // plane sums its taps in a fixed order, and each Z element is one GEMM dot product: the same
  // bits however images and output channels are grouped and at any thread count.
  auto part_images = [&](size_t p, std::int64_t b0, std::int64_t nb, float* z) {
    const OutputPart& part = parts[p];
    const std::int64_t N = nb * P_in;
    RowsAcrossImagesSource x(input, C * P_in, P_in, 0, b0, nb);
    gemm::gemm(N, 1.0f, packed[p], x, 0.0f, z, N);
    parallel_for(nb * part.count, [&](std::int64_t t0, std::int64_t t1) {
      for (std::int64_t t = t0; t < t1; ++t) {
        const std::int64_t bl = t / part.count, ol = t % part.count, o = part.o0 + ol;
        float* plane = out + ((b0 + bl) * O + o) * P_out;
        std::fill(plane, plane + P_out, bias ? bias[o] : 0.0f);
        for (std::int64_t tap = 0; tap < KK; ++tap) {
          add_shifted(g, z + (tap * part.count + ol) * N + bl * P_in, tap_shift(g, tap), plane);
        }
      }
    });
  };
  auto images = [&](std::int64_t b0, std::int64_t nb, float* z) {
    for (size_t p = 0; p < parts.size(); ++p) part_images(p, b0, nb, z);
  };
  const std::int64_t per_image = KK * O * P_in;
  const std::int64_t task_images = images_per_task(g);
  const std::int64_t tasks = (g.batch + task_images - 1) / task_images;
  const bool threaded = num_threads() > 1 && !in_parallel_region();
  if (threaded && tasks >= 2) {
    // One group of images per task, each thread's Z its own: the GEMM's output stays in the
    // thread's L2 until the shift-add reads it. (One GEMM over all threads wrote a Z of several
    // MB that both threads then streamed back: N8 C64 32x32 -> 18 at 2 threads ran at 0.9x its
    // 1-thread time.)
    std::vector<AlignedBuffer<float>> z(static_cast<size_t>(num_threads()));
    for (auto& buffer : z) buffer = AlignedBuffer<float>(static_cast<size_t>(task_images * per_image));
    parallel_tasks(tasks, [&](std::int64_t t, int thread) {
      const std::int64_t b0 = t * task_images;
      images(b0, std::min(task_images, g.batch - b0), z[static_cast<size_t>(thread)].data());
    });
    return;
  }
  if (threaded && g.batch == 1 && num_threads() <= static_cast<int>(parts.size())) {
    // A single image on two threads: one output part each, GEMM and shift-add, with one
    // hand-over in all. (The GEMM split over both threads, then the planes split again: two
    // hand-overs around a Z both threads wrote and read, and N1 C64 32x32 -> 18 with packed
    // weights ran no faster at 2 threads than at 1.)
    std::vector<AlignedBuffer<float>> z(parts.size());
    for (size_t p = 0; p < parts.size(); ++p)
      z[p] = AlignedBuffer<float>(static_cast<size_t>(KK * parts[p].count * P_in));
    parallel_tasks(static_cast<std::int64_t>(parts.size()), [&](std::int64_t p, int) {
      part_images(static_cast<size_t>(p), 0, 1, z[static_cast<size_t>(p)].data());
    });
    return;
  }
  const std::int64_t chunk = images_per_chunk(g);
  AlignedBuffer<float> z(static_cast<size_t>(chunk * per_image));
  for (std::int64_t b0 = 0; b0 < g.batch; b0 += chunk) images(b0, std::min(chunk, g.batch - b0), z.data());
}

void kn2row_backward_weight(const Conv2dGeometry& g, const float* grad_out, const float* input, float* grad_weight) {
  const std::int64_t O = g.out_channels, C = g.in_channels, KK = taps(g);
  const std::int64_t P_in = g.in_h * g.in_w, P_out = g.out_h * g.out_w;
  const std::int64_t chunk = images_per_chunk(g);
  if (shifted_source_usable(g)) {
    // by_col[c, (o, KK - 1 - tap)] over images [b_begin, b_end), in chunks.
    auto images = [&](std::int64_t b_begin, std::int64_t b_end, float* by_col) {
      for (std::int64_t b0 = b_begin; b0 < b_end; b0 += chunk) {
        const std::int64_t nb = std::min(chunk, b_end - b0);
        RowsAcrossImagesA x(input + b0 * C * P_in, C * P_in, P_in, 0, nb);
        ShiftedGradientSource shifted(g, grad_out + b0 * O * P_out);
        gemm::gemm(C, O * KK, nb * P_in, 1.0f, x, shifted, b0 == b_begin ? 0.0f : 1.0f, by_col, O * KK);
      }
    };
    // As conv2d's weight gradient: two fixed halves of the batch (summed half 0 + half 1) from
    // kHalvesMinPixels, one per thread at 2 threads. The GEMM's N (O * KK = 162 columns) makes
    // only two unequal column chunks, and every chunk call waits for both threads.
    const bool halves = g.batch >= 2 && g.batch * P_in >= kHalvesMinPixels;
    const std::int64_t half = halves ? (g.batch + 1) / 2 : g.batch;
    AlignedBuffer<float> by_col(static_cast<size_t>((halves ? 2 : 1) * C * O * KK));
    float* second = by_col.data() + C * O * KK;
    if (halves && num_threads() == 2 && !in_parallel_region()) {
      parallel_tasks(2, [&](std::int64_t h, int) {
        if (h == 0) {
          images(0, half, by_col.data());
        } else {
          images(half, g.batch, second);
        }
      });
    } else {
      images(0, half, by_col.data());
      if (halves) images(half, g.batch, second);
    }
    for (std::int64_t o = 0; o < O; ++o) {
      for (std::int64_t c = 0; c < C; ++c) {
        for (std::int64_t t = 0; t < KK; ++t) {
          const size_t at = static_cast<size_t>(c * O * KK + o * KK + (KK - 1 - t));
          grad_weight[(o * C + c) * KK + t] = halves ? by_col[at] + second[at] : by_col[at];
        }
      }
    }
    return;
  }
  // shifted[(tap, o), (image, pixel)]: the output gradient as each tap's Z would see it.
  AlignedBuffer<float> shifted(static_cast<size_t>(KK * O * chunk * P_in));
  // by_tap[c, (tap, o)] = sum over images and pixels of x[c, .] * shifted[(tap, o), .]
  AlignedBuffer<float> by_tap(static_cast<size_t>(C * KK * O));
  for (std::int64_t b0 = 0; b0 < g.batch; b0 += chunk) {
    const std::int64_t nb = std::min(chunk, g.batch - b0), N = nb * P_in;
    parallel_for(KK * O * nb, [&](std::int64_t t0, std::int64_t t1) {
      for (std::int64_t t = t0; t < t1; ++t) {
        const std::int64_t row = t / nb, bl = t % nb, tap = row / O, o = row % O;
        shifted_gradient(g, grad_out + ((b0 + bl) * O + o) * P_out, tap_shift(g, tap),
                         shifted.data() + row * N + bl * P_in);
      }
    });
    RowsAcrossImagesA x(input + b0 * C * P_in, C * P_in, P_in, 0, nb);
    gemm::gemm(C, KK * O, N, 1.0f, x, gemm::MatrixB(shifted.data(), N, true), b0 == 0 ? 0.0f : 1.0f, by_tap.data(),
               KK * O);
  }
  for (std::int64_t o = 0; o < O; ++o) {
    for (std::int64_t c = 0; c < C; ++c) {
      for (std::int64_t t = 0; t < KK; ++t)
        grad_weight[(o * C + c) * KK + t] = by_tap[static_cast<size_t>(c * KK * O + t * O + o)];
    }
  }
}

}  // namespace cpu
}  // namespace flexconv
