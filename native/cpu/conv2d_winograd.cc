// Winograd F(2x2, 3x3) and F(4x4, 3x3) convolution: weight packing, chunking and the 16 (36)
// GEMMs. The transforms themselves are in conv2d_winograd_isa.cc (conv2d_winograd4_isa.cc); the
// plan is in conv2d_winograd.h.
#include "cpu/conv2d_winograd.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <optional>

#include "core/alloc.h"
#include "core/errors.h"
#include "core/isa.h"
#include "core/thread_pool.h"
#include "cpu/conv2d_winograd4_kernels.h"
#include "cpu/conv2d_winograd_kernels.h"

namespace flexconv {
namespace cpu {
namespace {

using math::Conv2dGeometry;

constexpr int kPoints = 16;  // 4x4 transformed points per F(2x2, 3x3) tile

// A tiling's output block (size x size pixels) and transformed points per tile.
struct Tiling {
  std::int64_t size;
  int points;
};
Tiling tiling(WinogradTile tile) { return tile == WinogradTile::F4x4 ? Tiling{4, 36} : Tiling{2, kPoints}; }

// Floats between one transformed point's matrix and the next, past its C x T (V) or O x T (M)
// floats. The transforms touch all 16 matrices per group of tiles, and C T floats are often a
// multiple of 4 KB (32 channels x 384 tiles: 48 KB): those 16 lines then fell in one L1 set (12
// ways) and evicted one another. One cache line of skew spreads them: 32- and 64-channel convs
// measured 5-7% faster, the input transform's share of a 32-channel conv fell from 19% to 16%.
constexpr std::int64_t kSkew = 16;
// Floats from point xi's matrix (`floats` of them) to point xi + 1's.
std::int64_t point_stride(std::int64_t floats) { return floats + kSkew; }
// Below this many channels on either side the 16 GEMMs have too little depth or too few rows
// for the micro-kernel (the stem's 3 input channels, thin offset predictors).
constexpr std::int64_t kMinChannels = 32;
// Tiles per chunk: V and M = U V of a chunk are 16 x channels x tiles floats each, kept to
// about 768 KB for the wider of the two (L2-sized), and a multiple of the AVX-512 micro-kernel's
// 48 columns when there is room.
constexpr std::int64_t kChunkFloats = 12288;
constexpr std::int64_t kChunkAlign = 48;
// Fewest tiles per chunk (and per thread for the path to apply): with fewer, the weights (16
// transformed matrices, 16/9 of the direct ones) are the traffic and the GEMMs are too narrow;
// a batch of one 4x4 map with 512 channels (4 tiles) measured 1.9x slower than the direct
// convolution, one 8x8 map (16 tiles) with 256 channels 1.9x faster.
constexpr std::int64_t kMinChunkTiles = 16;
// Multiply-adds of the transformed GEMMs (points x C x O x tiles) from which a single chunk's
// steps are split between the threads (winograd_forward). One 8x8 map at batch 1, 1 thread /
// 2 threads split, microseconds: 32 -> 32 channels (0.26 M) 15 / 26, 64 -> 64 (1 M) 27 / 38,
// 128 -> 64 (2 M) 46 / 52, 128 -> 128 (4 M) 70 / 68, 256 -> 256 (17 M) 233 / 167.
constexpr std::int64_t kSplitStepsMinMacs = std::int64_t(8) << 20;

// Tiles from which transforming the weights for one call pays: the call saves 20 of 36
// multiply-adds per tile and channel pair, and transforming and packing 16 floats per pair costs
// about as much as 70 tiles' saving. From 128 tiles and O C / 2048 (measured with the packed
// matrices' memory kept between calls, core/alloc.cc; before that a 128-channel conv faulted
// its 16 matrices in every call and the bar stood at 256 tiles and O C / 512): 512 channels on
// 4x4 maps, batch 64 (256 tiles), forward 1.5x faster at 1 and 2 threads, batch 32 1.15-1.25x;
// 1024 channels at 512 tiles 1.7x; 64-256 channels at 128 tiles 1.1-1.6x at 1 thread. At 64
// tiles two threads' chunks each stream all of U: no faster at 2 threads, so not below 128.
constexpr std::int64_t kPerCallMinTiles = 128;
constexpr std::int64_t kPerCallPairsPerTile = 2048;
// From how many 4x4 tiles (and O C / 64 of them) F(4x4, 3x3) replaces F(2x2, 3x3) in such a
// call: each chunk streams 36 O C floats of U instead of 16, which pays once the threads' chunks
// are long. Measured forward (F(2x2) -> F(4x4), ms, 1 thread / 2 threads): N64 64 -> 64 on 32x32
// (4096 tiles) 18.2 -> 14.8 / 10.3-10.9 -> 8.0-8.8; N64 128 on 16x16 (1024) 14.7-15.1 ->
// 11.0-11.3 / 8.1-8.6 -> 6.1-6.7; N8 32 and 64 channels on 32x32 (512) 1.1-1.25x faster / the
// same. With 128-256 tiles F(4x4) was 1.05-1.2x faster at 1 thread but 1.15-1.5x slower at 2
// (N8 64 on 16x16, N32 64 on 8x8, N64 256 on 8x8); the choice may not depend on the thread
// count (it changes the rounding), hence 512.
constexpr std::int64_t kPerCall4MinTiles = 512;
constexpr std::int64_t kPerCall4PairsPerTile = 64;

std::int64_t tiles_h(const Conv2dGeometry& g, std::int64_t size = 2) { return (g.out_h + size - 1) / size; }
std::int64_t tiles_w(const Conv2dGeometry& g, std::int64_t size = 2) { return (g.out_w + size - 1) / size; }

// Most tiles per chunk of this convolution: V and M within kChunkFloats per channel, and
// enough tiles to amortise streaming the U matrices.
std::int64_t chunk_cap(const Conv2dGeometry& g, int points = kPoints) {
  const std::int64_t widest = std::max(g.in_channels, g.out_channels);
  // (kChunkFloats is per F(2x2, 3x3) tile: the same bytes hold 16 / 36 as many F(4x4) tiles.)
  std::int64_t cap = std::max(kMinChunkTiles, kChunkFloats * kPoints / points / widest);
  // F(2x2, 3x3) chunks in multiples of the micro-kernel's 48 columns; F(4x4, 3x3)'s in multiples
  // of 16, nearer the cap (64 channels: 80 tiles, not 48; measured 1.1-1.3x faster at 128
  // channels, unchanged at 64).
  const std::int64_t align = points == kPoints ? kChunkAlign : 16;
  if (cap >= align) cap = cap / align * align;
  // Every chunk streams all the U matrices (16 or 36 O C floats); with few tiles per chunk a
  // deep layer's weights, not its activations, are the traffic (512 channels on 4x4 maps: 16 MB
  // of F(2x2) U for 32 tiles). Chunks of at least O C / (C + O) / 4 F(2x2) tiles, and 36 / 16 of
  // that for F(4x4): measured 1.3x faster there, and unchanged for the layers the cache cap
  // already suits.
  const std::int64_t weight_tiles =
      g.in_channels * g.out_channels / (g.in_channels + g.out_channels) / 4 * points / kPoints;
  return std::max(cap, (weight_tiles + 15) / 16 * 16);
}

// Tiles per chunk for this convolution and thread count.
std::int64_t chunk_tiles(const Conv2dGeometry& g, std::int64_t total, int points) {
  const std::int64_t threads = num_threads();
  // Every thread gets a chunk when the tiles allow it.
  const std::int64_t per_thread = (total + threads - 1) / threads;
  const std::int64_t cap = std::max(kMinChunkTiles, std::min(chunk_cap(g, points), per_thread));
  if (threads == 1) return cap;
  // Chunks of equal size in a multiple of the thread count, so that the threads finish
  // together: the cap alone cut 512 tiles of 64 channels into 192 + 192 + 128, two chunks for
  // one thread and one for the other. Measured at 2 threads: N8 64 -> 64 on 16x16 maps 0.40 ->
  // 0.34 ms, N32 64 -> 64 on 8x8 0.46 -> 0.40, N16 128 -> 128 on 8x8 0.86 -> 0.75 (at 1 thread
  // the cap's multiples of 48 columns, the micro-kernel's width, are faster: left as they are).
  std::int64_t chunks = (total + cap - 1) / cap;
  chunks = (chunks + threads - 1) / threads * threads;
  const std::int64_t equal = ((total + chunks - 1) / chunks + 15) / 16 * 16;
  return std::max(kMinChunkTiles, std::min(cap, equal));
}

// The runs of tiles (size x size outputs) of the chunk [t0, t1) of the batch's tiles (numbered
// image by image, row by row).
std::vector<WinogradRun> chunk_runs(const Conv2dGeometry& g, std::int64_t t0, std::int64_t t1, std::int64_t size = 2) {
  const std::int64_t tw = tiles_w(g, size), per_image = tiles_h(g, size) * tw;
  std::vector<WinogradRun> runs;
  for (std::int64_t t = t0; t < t1;) {
    const std::int64_t b = t / per_image, within = t % per_image;
    const std::int64_t ty = within / tw, tx = within % tw;
    const std::int64_t n = std::min(tw - tx, t1 - t);
    runs.push_back({b, ty, tx, n});
    t += n;
  }
  return runs;
}

// V and M of this thread's chunks, kept between calls in this thread's cache (core/alloc.h).
thread_local ThreadScratch t_v_scratch;
thread_local ThreadScratch t_m_scratch;

}  // namespace

bool winograd_weights_apply(std::int64_t out_channels, std::int64_t in_per_group, std::int64_t kernel_h,
                            std::int64_t kernel_w, std::int64_t groups) {
  return kernel_h == 3 && kernel_w == 3 && groups == 1 && out_channels >= kMinChannels &&
         in_per_group >= kMinChannels && FLEXCONV_PICK_ISA(winograd_has_fast_transforms)();
}

namespace {

// U of `weight`'s kernels (flipped_from 0) or of its flipped, transposed kernels (flipped_from =
// its output channels: winograd_weight_tiles) into u, point xi's matrix at u + xi * point_stride;
// false when a weight is not finite.
bool transform_kernels(const float* weight, std::int64_t flipped_from, std::int64_t pairs, std::int64_t point_stride,
                       WinogradTile tile, float* u) {
  // A non-finite weight spreads differently through the transforms than through the direct sum
  // (inf - inf): such weights keep the direct path only (checked on the way, in parallel).
  std::atomic<bool> finite{true};
  const auto weight_tiles =
      tile == WinogradTile::F4x4 ? FLEXCONV_PICK_ISA(winograd4_weight_tiles) : FLEXCONV_PICK_ISA(winograd_weight_tiles);
  parallel_for(pairs, [&](std::int64_t p0, std::int64_t p1) {
    if (!weight_tiles(weight, flipped_from, p0, p1, pairs, point_stride, u)) {
      finite.store(false, std::memory_order_relaxed);
    }
  });
  return finite.load();
}

// U of rows x cols kernels (transform_kernels), packed as GEMM A operands; empty when not finite.
std::vector<gemm::PackedA> pack_kernels(const float* weight, std::int64_t flipped_from, std::int64_t rows,
                                        std::int64_t cols, WinogradTile tile) {
  const std::int64_t pairs = rows * cols;
  const int points = tiling(tile).points;
  // One cache line of skew between the points' matrices (point_stride, as for V and M): O C
  // floats apart are a multiple of 4 KB for most layers, and the transform's 16 (36) stores per
  // step then fell in one L1 set.
  const std::int64_t stride = point_stride(pairs);
  AlignedBuffer<float> u(static_cast<size_t>(points * stride));
  if (!transform_kernels(weight, flipped_from, pairs, stride, tile, u.data())) return {};
  std::vector<gemm::PackedA> packed;
  packed.reserve(static_cast<size_t>(points));
  for (int xi = 0; xi < points; ++xi)
    packed.emplace_back(rows, cols, gemm::MatrixA(u.data() + xi * stride, cols, false));
  return packed;
}

}  // namespace

bool winograd_transform_weights(const float* weight, std::int64_t out_channels, std::int64_t in_channels,
                                WinogradTile tile, float* u) {
  return transform_kernels(weight, 0, out_channels * in_channels, out_channels * in_channels, tile, u);
}

std::vector<gemm::PackedA> winograd_pack_weights(const float* weight, std::int64_t out_channels,
                                                 std::int64_t in_channels, WinogradTile tile) {
  return pack_kernels(weight, 0, out_channels, in_channels, tile);
}

std::vector<gemm::PackedA> winograd_pack_flipped_weights(const float* weight, std::int64_t out_channels,
                                                         std::int64_t in_channels, WinogradTile tile) {
  // (The gathers index the weight with 32-bit offsets.)
  if (out_channels * in_channels * 9 >= (std::int64_t{1} << 31)) return {};
  return pack_kernels(weight, out_channels, in_channels, out_channels, tile);
}

void winograd_inverse_weights(const float* du0, const float* du1, std::int64_t out_channels, std::int64_t in_channels,
                              WinogradTile tile, float* grad_weight) {
  const std::int64_t pairs = out_channels * in_channels;
  // Blocks of 16 pairs, so that every pair takes the same (vector or scalar) path whatever the
  // thread count.
  const auto inverse_tiles = tile == WinogradTile::F4x4 ? FLEXCONV_PICK_ISA(winograd4_inverse_weight_tiles)
                                                        : FLEXCONV_PICK_ISA(winograd_inverse_weight_tiles);
  parallel_for((pairs + 15) / 16, [&](std::int64_t b0, std::int64_t b1) {
    inverse_tiles(du0, du1, b0 * 16, std::min(pairs, b1 * 16), pairs, grad_weight);
  });
}

bool winograd_forward_applies(const Conv2dGeometry& g) {
  // (From kMinChunkTiles tiles in all: below one chunk per thread the threads split the steps.)
  if (!winograd_weights_apply(g.out_channels, g.in_channels / g.groups, g.kernel_h, g.kernel_w, g.groups)) {
    return false;
  }
  if (g.stride_h != 1 || g.stride_w != 1 || g.dil_h != 1 || g.dil_w != 1) return false;
  const std::int64_t total = g.batch * tiles_h(g) * tiles_w(g);
  return total >= kMinChunkTiles;
}

bool winograd_per_call_applies(const Conv2dGeometry& g) {
  const std::int64_t tiles = g.batch * tiles_h(g) * tiles_w(g);
  return winograd_forward_applies(g) && tiles >= kPerCallMinTiles &&
         tiles >= g.out_channels * g.in_channels / kPerCallPairsPerTile;
}

bool winograd4_per_call_applies(const Conv2dGeometry& g) {
  const std::int64_t tiles = g.batch * tiles_h(g, 4) * tiles_w(g, 4);
  return winograd_per_call_applies(g) && tiles >= kPerCall4MinTiles &&
         tiles >= g.out_channels * g.in_channels / kPerCall4PairsPerTile;
}

namespace {

// The plane geometry the transforms take for g.
WinogradPlanes planes_of(const Conv2dGeometry& g) {
  const std::int64_t in_image = g.in_channels * g.in_h * g.in_w, out_image = g.out_channels * g.out_h * g.out_w;
  return {g.in_h, g.in_w, g.pad_h, g.pad_w, g.out_h, g.out_w, in_image, out_image};
}

// This CPU's transform of one input channel's patches (V) for a tiling.
using InputTiles = bool (*)(const WinogradRun*, std::int64_t, const WinogradPlanes&, const float*, float*,
                            const WinogradVLayout&);
InputTiles input_tiles_for(WinogradTile tile) {
  return tile == WinogradTile::F4x4 ? FLEXCONV_PICK_ISA(winograd4_input_tiles)
                                    : FLEXCONV_PICK_ISA(winograd_input_tiles);
}

// What the forward's and the weight gradient's steps read for g and a tiling: points per tile,
// channel counts, plane sizes, the transforms' plane geometry and this CPU's input transform.
struct StepsGeometry {
  StepsGeometry(const Conv2dGeometry& g, WinogradTile tile)
      : points(tiling(tile).points),
        C(g.in_channels),
        O(g.out_channels),
        in_plane(g.in_h * g.in_w),
        out_plane(g.out_h * g.out_w),
        planes(planes_of(g)),
        input_tiles(input_tiles_for(tile)) {}
  int points;
  std::int64_t C, O, in_plane, out_plane;
  WinogradPlanes planes;
  InputTiles input_tiles;
};

// The three steps of the forward over a chunk of T tiles (its runs), each over a range of what
// it splits; `like` is any of the U matrices (they share one shape), for the layouts.
class ForwardSteps : StepsGeometry {
 public:
  ForwardSteps(const Conv2dGeometry& g, const gemm::PackedA& like, WinogradTile tile = WinogradTile::F2x2)
      : StepsGeometry(g, tile), like_(like), output_tiles_(output_tiles(tile)) {}

  // Scratch floats of V and M for a chunk of T tiles.
  size_t v_floats(std::int64_t T) const { return static_cast<size_t>(points * v_stride(T)); }
  size_t m_floats(std::int64_t T) const { return static_cast<size_t>(points * point_stride(O * T)); }

  // V[xi] (C x T) of channels [c0, c1): the transformed input patches, channel by channel, so
  // that each plane is read front to back (the hardware prefetcher follows one stream, not one
  // per channel), written in the GEMM's packed layout (gemm_packed_b reads it in place); false
  // when an input was not finite.
  bool transform_inputs(const std::vector<WinogradRun>& runs, std::int64_t c0, std::int64_t c1, const float* input,
                        float* v, std::int64_t T) const {
    const gemm::PackedBLayout vl = gemm::packed_b_layout(like_, T);
    const std::int64_t stride = v_stride(T);
    bool finite = true;
    for (std::int64_t c = c0; c < c1; ++c) {
      const WinogradVLayout layout{stride, vl.nr, vl.panel_stride(c)};
      finite &= input_tiles(runs.data(), static_cast<std::int64_t>(runs.size()), planes, input + c * in_plane,
                            v + vl.row_start(c), layout);
      if (const std::int64_t tail = T % vl.nr; tail != 0) {
        // The last panel's columns past T, which the micro-kernel reads too.
        float* pad = v + vl.row_start(c) + (vl.n_padded / vl.nr - 1) * layout.panel_stride + tail;
        for (int xi = 0; xi < points; ++xi) std::fill_n(pad + xi * stride, vl.nr - tail, 0.0f);
      }
    }
    return finite;
  }

  // M[xi] (O x T) = u V[xi].
  void multiply(std::int64_t xi, const gemm::PackedA& u, const float* v, float* m, std::int64_t T) const {
    gemm::gemm_packed_b(T, 1.0f, u, v + xi * v_stride(T), 0.0f, m + xi * point_stride(O * T), T);
  }

  // Y = A^T M A per tile of output channels [o0, o1), with the bias (may be null) and the
  // epilogue, into the output planes.
  void transform_outputs(const std::vector<WinogradRun>& runs, std::int64_t o0, std::int64_t o1, const float* m,
                         std::int64_t T, const float* bias, const ConvEpilogue& ep, float* out) const {
    for (std::int64_t o = o0; o < o1; ++o) {
      output_tiles_(runs.data(), static_cast<std::int64_t>(runs.size()), planes, m + o * T, point_stride(O * T),
                    bias ? bias[o] : 0.0f, ep.residual ? ep.residual + o * out_plane : nullptr, ep.relu,
                    out + o * out_plane);
    }
  }

 private:
  std::int64_t v_stride(std::int64_t T) const { return point_stride(gemm::packed_b_layout(like_, T).size()); }

  using OutputTiles = void (*)(const WinogradRun*, std::int64_t, const WinogradPlanes&, const float*, std::int64_t,
                               float, const float*, bool, float*);
  static OutputTiles output_tiles(WinogradTile tile) {
    return tile == WinogradTile::F4x4 ? FLEXCONV_PICK_ISA(winograd4_output_tiles)
                                      : FLEXCONV_PICK_ISA(winograd_output_tiles);
  }

  const gemm::PackedA& like_;
  OutputTiles output_tiles_;
};

}  // namespace

bool winograd_forward(const Conv2dGeometry& g, const gemm::PackedA* u, const float* input, const float* bias,
                      float* out, const ConvEpilogue& ep, WinogradTile tile) {
  const std::int64_t C = g.in_channels, O = g.out_channels;
  const Tiling shape = tiling(tile);
  const std::int64_t total = g.batch * tiles_h(g, shape.size) * tiles_w(g, shape.size);
  const std::int64_t per_chunk = chunk_tiles(g, total, shape.points);
  const std::int64_t chunks = (total + per_chunk - 1) / per_chunk;
  const ForwardSteps steps(g, u[0], tile);

  if (chunks == 1 && num_threads() > 1 && !in_parallel_region() && shape.points * C * O * total >= kSplitStepsMinMacs) {
    // Too few tiles for a chunk per thread (one 8x8 map): the threads split each step instead,
    // channels, then the GEMMs, then output channels. Each step hands its whole output to the
    // other thread, so this pays only with enough arithmetic per step; smaller calls run as one
    // chunk on the calling thread (below).
    const std::vector<WinogradRun> runs = chunk_runs(g, 0, total, shape.size);
    AlignedBuffer<float> v_overflow, m_overflow;
    float* v = t_v_scratch.get(steps.v_floats(total), v_overflow);
    float* m = t_m_scratch.get(steps.m_floats(total), m_overflow);
    std::atomic<bool> finite{true};
    parallel_for(C, [&](std::int64_t c0, std::int64_t c1) {
      if (!steps.transform_inputs(runs, c0, c1, input, v, total)) finite.store(false, std::memory_order_relaxed);
    });
    if (!finite.load()) return false;
    parallel_tasks(shape.points, [&](std::int64_t xi, int) { steps.multiply(xi, u[xi], v, m, total); });
    parallel_for(
        O, [&](std::int64_t o0, std::int64_t o1) { steps.transform_outputs(runs, o0, o1, m, total, bias, ep, out); });
    return true;
  }

  // A chunk per task, all three steps on one thread, its V and M in that thread's cache.
  std::atomic<bool> finite{true};
  parallel_tasks(chunks, [&](std::int64_t chunk, int) {
    if (!finite.load(std::memory_order_relaxed)) return;
    const std::int64_t t0 = chunk * per_chunk, t1 = std::min(total, t0 + per_chunk), T = t1 - t0;
    AlignedBuffer<float> v_overflow, m_overflow;
    float* v = t_v_scratch.get(steps.v_floats(T), v_overflow);
    float* m = t_m_scratch.get(steps.m_floats(T), m_overflow);
    const std::vector<WinogradRun> runs = chunk_runs(g, t0, t1, shape.size);
    if (!steps.transform_inputs(runs, 0, C, input, v, T)) {
      finite.store(false, std::memory_order_relaxed);
      return;
    }
    for (std::int64_t xi = 0; xi < shape.points; ++xi) steps.multiply(xi, u[xi], v, m, T);
    steps.transform_outputs(runs, 0, O, m, T, bias, ep, out);
  });
  return finite.load();
}

bool winograd_image_applies(const Conv2dGeometry& g, WinogradTile tile) {
  const Tiling shape = tiling(tile);
  return g.batch == 1 && winograd_forward_applies(g) &&
         tiles_h(g, shape.size) * tiles_w(g, shape.size) <= chunk_cap(g, shape.points);
}

struct WinogradImage::Plan {
  Plan(const Conv2dGeometry& g, const gemm::PackedA& like, WinogradTile tile)
      : steps(g, like, tile),
        points(tiling(tile).points),
        tiles(tiles_h(g, tiling(tile).size) * tiles_w(g, tiling(tile).size)),
        runs(chunk_runs(g, 0, tiles, tiling(tile).size)),
        channels(g.in_channels),
        out_channels(g.out_channels) {}
  ForwardSteps steps;
  int points;
  std::int64_t tiles;
  std::vector<WinogradRun> runs;
  std::int64_t channels, out_channels;
};

WinogradImage::WinogradImage(const Conv2dGeometry& g, const gemm::PackedA& like, WinogradTile tile)
    : plan_(std::make_unique<Plan>(g, like, tile)) {
  FLEXCONV_CHECK(winograd_image_applies(g, tile), ErrorCode::Internal, "WinogradImage: geometry not applicable");
}
WinogradImage::~WinogradImage() = default;

int WinogradImage::points() const { return plan_->points; }

size_t WinogradImage::v_floats() const { return plan_->steps.v_floats(plan_->tiles); }
size_t WinogradImage::m_floats() const { return plan_->steps.m_floats(plan_->tiles); }

bool WinogradImage::transform_input(const float* image, float* v) const {
  return plan_->steps.transform_inputs(plan_->runs, 0, plan_->channels, image, v, plan_->tiles);
}

void WinogradImage::multiply(int xi, const gemm::PackedA& u, const float* v, float* m) const {
  plan_->steps.multiply(xi, u, v, m, plan_->tiles);
}

void WinogradImage::transform_output(const float* m, const float* bias, float* out) const {
  plan_->steps.transform_outputs(plan_->runs, 0, plan_->out_channels, m, plan_->tiles, bias, {}, out);
}

namespace {

// Tiles per chunk of the weight gradient: V and Z of a chunk are 16 x (C + O) x T floats (about
// 2 MB), and T at least 64 (128 once dU[xi] outgrows L2) so that each GEMM's depth amortises
// reading and writing dU[xi].
constexpr std::int64_t kGradChunkFloats = 32768;
constexpr std::int64_t kGradMinChunkTiles = 64;
constexpr std::int64_t kGradWideMinChunkTiles = 128;
constexpr std::int64_t kGradWidePairs = 128 * 128;
// Fewest tiles per half, and channel pairs per tile of a half (see
// winograd_backward_weight_applies).
constexpr std::int64_t kGradMinTilesPerHalf = 64;
constexpr std::int64_t kGradPairsPerTile = 4096;
// Largest dU (16 O C floats) per half: 512 x 512 channels.
constexpr std::int64_t kGradMaxUFloats = std::int64_t(1) << 22;

std::int64_t round_up16(std::int64_t x) { return (x + 15) / 16 * 16; }

thread_local ThreadScratch t_du_scratch;

// The weight gradient's two steps over a chunk of T tiles (its runs): V[xi] (C x T) and Z[xi]
// (O x T), rows round_up16(T) apart (one panel as wide as the chunk), then
// dU[xi] (O x C) (+)= Z[xi] V[xi]^T.
class GradientSteps : StepsGeometry {
 public:
  GradientSteps(const Conv2dGeometry& g, WinogradTile tile)
      : StepsGeometry(g, tile),
        grad_output_tiles_(tile == WinogradTile::F4x4 ? FLEXCONV_PICK_ISA(winograd4_grad_output_tiles)
                                                      : FLEXCONV_PICK_ISA(winograd_grad_output_tiles)) {}

  size_t v_floats(std::int64_t T) const { return static_cast<size_t>(points * v_stride(T)); }
  size_t z_floats(std::int64_t T) const { return static_cast<size_t>(points * z_stride(T)); }

  // Rows [r0, r1) of C + O: V's row r for an input channel r < C, Z's row r - C otherwise; false
  // when a value is not finite.
  bool transform(const std::vector<WinogradRun>& runs, std::int64_t r0, std::int64_t r1, const float* grad_out,
                 const float* input, float* v, float* z, std::int64_t T) const {
    const std::int64_t ld = round_up16(T), nruns = static_cast<std::int64_t>(runs.size());
    bool finite = true;
    for (std::int64_t r = r0; r < r1; ++r) {
      finite &= r < C ? input_tiles(runs.data(), nruns, planes, input + r * in_plane, v + r * ld, {v_stride(T), ld, 0})
                      : grad_output_tiles_(runs.data(), nruns, planes, grad_out + (r - C) * out_plane, z + (r - C) * ld,
                                           z_stride(T));
    }
    return finite;
  }

  // du (O x C, rows ldu apart) = beta du + Z[xi] V[xi]^T.
  void multiply(int xi, const float* v, const float* z, std::int64_t T, float beta, float* du, std::int64_t ldu) const {
    const std::int64_t ld = round_up16(T);
    gemm::gemm(O, C, T, 1.0f, gemm::MatrixA(z + xi * z_stride(T), ld, false),
               gemm::MatrixB(v + xi * v_stride(T), ld, true), beta, du, ldu);
  }

 private:
  std::int64_t v_stride(std::int64_t T) const { return point_stride(C * round_up16(T)); }
  std::int64_t z_stride(std::int64_t T) const { return point_stride(O * round_up16(T)); }

  using GradOutputTiles = bool (*)(const WinogradRun*, std::int64_t, const WinogradPlanes&, const float*, float*,
                                   std::int64_t);
  GradOutputTiles grad_output_tiles_;
};

}  // namespace

bool winograd_backward_weight_applies(const Conv2dGeometry& g) {
  // Whatever the thread count: the choice changes the rounding, and results must not depend on
  // the threads (dynamic convolution's per-sample blocks, run by the thread pool's tasks, call
  // conv2d_backward_weight_direct instead).
  if (!winograd_forward_applies(g) || kPoints * g.out_channels * g.in_channels > kGradMaxUFloats) return false;
  // dU and the final transform cost ~16 O C per half whatever the tile count, hence a floor of
  // tiles per half. Measured forward+backward (with scratch blocks kept between calls,
  // core/alloc.cc; the bar had stood at 256 tiles per half and O C / 128 before): 512 channels
  // on 4x4 maps at batch 64 (128 tiles per half) 0.85x the time with the direct weight
  // gradient, batch 32 (64 per half) 0.88x; 256 channels on 8x8 at batch 16 0.85x; 128 channels
  // at 64 per half 0.85-0.9x; 64 channels on 16x16 at batch 2 0.9x.
  const std::int64_t tiles = g.batch * tiles_h(g) * tiles_w(g);
  return tiles / 2 >= std::max(kGradMinTilesPerHalf, g.out_channels * g.in_channels / kGradPairsPerTile);
}

namespace {

// The weight gradient's tiling: F(4x4, 3x3) where the forward of g takes it per call (by shape
// alone, so the bits do not depend on the thread count) and its 36 O C floats of dU fit.
WinogradTile backward_weight_tile(const Conv2dGeometry& g) {
  return winograd4_per_call_applies(g) && 36 * g.out_channels * g.in_channels <= kGradMaxUFloats ? WinogradTile::F4x4
                                                                                                 : WinogradTile::F2x2;
}

}  // namespace

bool winograd_backward_weight(const Conv2dGeometry& g, const float* grad_out, const float* input, float* grad_weight) {
  const std::int64_t C = g.in_channels, O = g.out_channels, pairs = O * C;
  const WinogradTile tile = backward_weight_tile(g);
  const Tiling shape = tiling(tile);
  const int points = shape.points;
  const std::int64_t per_image = tiles_h(g, shape.size) * tiles_w(g, shape.size);
  // (kGradChunkFloats per F(2x2, 3x3) tile: the same bytes hold 16 / 36 as many F(4x4) tiles.)
  const std::int64_t per_chunk =
      round_up16(std::max(pairs > kGradWidePairs ? kGradWideMinChunkTiles : kGradMinChunkTiles,
                          kGradChunkFloats * kPoints / points / (C + O)));
  const GradientSteps steps(g, tile);
  // Two fixed halves of the tiles, each into its own dU: the first half of the images and the
  // rest, or for a batch of one the first half of its tiles and the rest (so that a single
  // large image, e.g. 256 channels of 64x64, has a half for each of two threads; it had been
  // one thread's work, 1.3x of the forward+backward time at 2 threads). Fixed by the shape, so
  // the sum, and the bits, do not depend on the thread count.
  const std::int64_t total = g.batch * per_image;
  const std::int64_t split = g.batch >= 2 ? (g.batch + 1) / 2 * per_image : total / 2;
  const std::int64_t u_floats = points * pairs;
  AlignedBuffer<float> du_overflow;
  float* du = t_du_scratch.get(static_cast<size_t>(2 * u_floats), du_overflow);
  std::atomic<bool> finite{true};

  // dU[xi] of the tiles [first, last) into u, chunk by chunk in order.
  auto part = [&](std::int64_t first, std::int64_t last, float* u) {
    AlignedBuffer<float> v_overflow, z_overflow;
    const std::int64_t most = std::min(per_chunk, last - first);
    float* v = t_v_scratch.get(steps.v_floats(most), v_overflow);
    float* z = t_m_scratch.get(steps.z_floats(most), z_overflow);
    for (std::int64_t t0 = first; t0 < last; t0 += per_chunk) {
      const std::int64_t T = std::min(per_chunk, last - t0);
      const std::vector<WinogradRun> runs = chunk_runs(g, t0, t0 + T, shape.size);
      // V and Z channel by channel (over the threads when the halves run one after the other,
      // see below).
      std::atomic<bool> ok{true};
      parallel_for(C + O, [&](std::int64_t r0, std::int64_t r1) {
        if (!steps.transform(runs, r0, r1, grad_out, input, v, z, T)) ok.store(false, std::memory_order_relaxed);
      });
      if (!ok.load() || !finite.load(std::memory_order_relaxed)) {
        finite.store(false, std::memory_order_relaxed);
        return;
      }
      for (int xi = 0; xi < points; ++xi) steps.multiply(xi, v, z, T, t0 == first ? 0.0f : 1.0f, u + xi * pairs, C);
    }
  };
  // Two threads: a half each. Otherwise the halves one after the other, each spread over the
  // threads (its transforms by channel, its GEMMs by the driver); every dU element gets the same
  // additions in the same order either way.
  if (num_threads() == 2 && !in_parallel_region()) {
    parallel_tasks(2, [&](std::int64_t h, int) { h == 0 ? part(0, split, du) : part(split, total, du + u_floats); });
  } else {
    part(0, split, du);
    part(split, total, du + u_floats);
  }
  if (!finite.load()) return false;
  // dW = G^T dU G, the halves added first in a fixed order (0 + 1).
  winograd_inverse_weights(du, du + u_floats, O, C, tile, grad_weight);
  return true;
}

namespace {

// Most V and Z floats of one image for WinogradImageGradient (8 MB: 36 points x 128 channels x
// 256 tiles, a 64x64 map at 64 channels by F(4x4, 3x3)).
constexpr std::int64_t kImageGradMaxFloats = std::int64_t(1) << 21;

// Whether an image of g has enough tiles of `tile` (each GEMM's depth) and few enough for its V
// and Z.
bool image_gradient_fits(const Conv2dGeometry& g, WinogradTile tile) {
  const Tiling shape = tiling(tile);
  const std::int64_t tiles = tiles_h(g, shape.size) * tiles_w(g, shape.size);
  return tiles >= kGradMinChunkTiles &&
         shape.points * (g.in_channels + g.out_channels) * round_up16(tiles) <= kImageGradMaxFloats;
}

}  // namespace

std::optional<WinogradTile> winograd_image_gradient_tile(const Conv2dGeometry& g) {
  if (g.batch != 1 || !winograd_forward_applies(g)) return std::nullopt;
  if (image_gradient_fits(g, WinogradTile::F4x4)) return WinogradTile::F4x4;
  if (image_gradient_fits(g, WinogradTile::F2x2)) return WinogradTile::F2x2;
  return std::nullopt;
}

struct WinogradImageGradient::Plan {
  Plan(const Conv2dGeometry& g, WinogradTile tile)
      : steps(g, tile),
        points(tiling(tile).points),
        tiles(tiles_h(g, tiling(tile).size) * tiles_w(g, tiling(tile).size)),
        runs(chunk_runs(g, 0, tiles, tiling(tile).size)),
        rows(g.in_channels + g.out_channels) {}
  GradientSteps steps;
  int points;
  std::int64_t tiles;
  std::vector<WinogradRun> runs;
  std::int64_t rows;
};

WinogradImageGradient::WinogradImageGradient(const Conv2dGeometry& g, WinogradTile tile)
    : plan_(std::make_unique<Plan>(g, tile)) {
  FLEXCONV_CHECK(winograd_image_gradient_tile(g) == tile, ErrorCode::Internal,
                 "WinogradImageGradient: geometry not applicable");
}
WinogradImageGradient::~WinogradImageGradient() = default;

int WinogradImageGradient::points() const { return plan_->points; }

std::size_t WinogradImageGradient::scratch_floats() const {
  return plan_->steps.v_floats(plan_->tiles) + plan_->steps.z_floats(plan_->tiles);
}

bool WinogradImageGradient::transform(const float* grad_out, const float* input, float* scratch) const {
  float* v = scratch;
  float* z = scratch + plan_->steps.v_floats(plan_->tiles);
  std::atomic<bool> finite{true};
  parallel_for(plan_->rows, [&](std::int64_t r0, std::int64_t r1) {
    if (!plan_->steps.transform(plan_->runs, r0, r1, grad_out, input, v, z, plan_->tiles)) {
      finite.store(false, std::memory_order_relaxed);
    }
  });
  return finite.load();
}

void WinogradImageGradient::multiply(int xi, const float* scratch, float* du, std::int64_t ldu) const {
  const float* v = scratch;
  const float* z = scratch + plan_->steps.v_floats(plan_->tiles);
  plan_->steps.multiply(xi, v, z, plan_->tiles, 0.0f, du, ldu);
}

}  // namespace cpu
}  // namespace flexconv
