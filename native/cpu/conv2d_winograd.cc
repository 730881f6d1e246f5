// Winograd F(2x2, 3x3) convolution: weight packing, chunking and the 16 GEMMs. The transforms
// themselves are in conv2d_winograd_isa.cc; the plan is in conv2d_winograd.h.
#include "cpu/conv2d_winograd.h"

#include <algorithm>
#include <atomic>

#include "core/alloc.h"
#include "core/isa.h"
#include "core/thread_pool.h"
#include "cpu/conv2d_winograd_kernels.h"

namespace flexconv {
namespace cpu {
namespace {

using math::Conv2dGeometry;

constexpr int kPoints = 16;  // 4x4 transformed points per tile
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

// Tiles from which transforming the weights for one call pays: the call saves 20 of 36
// multiply-adds per tile and channel pair, and transforming and packing 16 floats per pair costs
// about as much as 70 tiles' saving while the 16 transformed matrices stay in cache. Deep layers'
// matrices do not (16 MB at 512 channels, written, packed and streamed from memory): there 256
// tiles measured no faster than the direct convolution, hence O C / 512 tiles at least.
constexpr std::int64_t kPerCallMinTiles = 256;
constexpr std::int64_t kPerCallPairsPerTile = 512;

std::int64_t tiles_h(const Conv2dGeometry& g) { return (g.out_h + 1) / 2; }
std::int64_t tiles_w(const Conv2dGeometry& g) { return (g.out_w + 1) / 2; }

// Tiles per chunk for this convolution and thread count.
std::int64_t chunk_tiles(const Conv2dGeometry& g, std::int64_t total) {
  const std::int64_t widest = std::max(g.in_channels, g.out_channels);
  std::int64_t cap = std::max(kMinChunkTiles, kChunkFloats / widest);
  if (cap >= kChunkAlign) cap = cap / kChunkAlign * kChunkAlign;
  // Every chunk streams all 16 U matrices (16 O C floats); with few tiles per chunk a deep
  // layer's weights, not its activations, are the traffic (512 channels on 4x4 maps: 16 MB of
  // U for 32 tiles). Chunks of at least O C / (C + O) / 4 tiles: measured 1.3x faster there,
  // and unchanged for the layers the cache cap already suits.
  const std::int64_t weight_tiles = g.in_channels * g.out_channels / (g.in_channels + g.out_channels) / 4;
  cap = std::max(cap, (weight_tiles + 15) / 16 * 16);
  const std::int64_t threads = num_threads();
  // Every thread gets a chunk when the tiles allow it.
  const std::int64_t per_thread = (total + threads - 1) / threads;
  return std::max(kMinChunkTiles, std::min(cap, per_thread));
}

// The runs of tiles of the chunk [t0, t1) of the batch's tiles (numbered image by image, row
// by row).
std::vector<WinogradRun> chunk_runs(const Conv2dGeometry& g, std::int64_t t0, std::int64_t t1) {
  const std::int64_t tw = tiles_w(g), per_image = tiles_h(g) * tw;
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

std::vector<gemm::PackedA> winograd_pack_weights(const float* weight, std::int64_t out_channels,
                                                 std::int64_t in_channels) {
  const std::int64_t O = out_channels, C = in_channels, pairs = O * C;
  AlignedBuffer<float> u(static_cast<size_t>(kPoints * pairs));
  // A non-finite weight spreads differently through the transforms than through the direct sum
  // (inf - inf): such weights keep the direct path only (checked on the way, in parallel).
  std::atomic<bool> finite{true};
  const auto weight_tiles = FLEXCONV_PICK_ISA(winograd_weight_tiles);
  parallel_for(pairs, [&](std::int64_t p0, std::int64_t p1) {
    if (!weight_tiles(weight, p0, p1, pairs, u.data())) finite.store(false, std::memory_order_relaxed);
  });
  if (!finite.load()) return {};
  std::vector<gemm::PackedA> packed;
  packed.reserve(kPoints);
  for (int xi = 0; xi < kPoints; ++xi) packed.emplace_back(O, C, gemm::MatrixA(u.data() + xi * pairs, C, false));
  return packed;
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

bool winograd_forward(const Conv2dGeometry& g, const gemm::PackedA* u, const float* input, const float* bias,
                      float* out, const ConvEpilogue& ep) {
  const std::int64_t C = g.in_channels, O = g.out_channels;
  const std::int64_t in_plane = g.in_h * g.in_w, out_plane = g.out_h * g.out_w;
  const std::int64_t total = g.batch * tiles_h(g) * tiles_w(g);
  const std::int64_t per_chunk = chunk_tiles(g, total);
  const std::int64_t chunks = (total + per_chunk - 1) / per_chunk;
  const auto input_tiles = FLEXCONV_PICK_ISA(winograd_input_tiles);
  const auto output_tiles = FLEXCONV_PICK_ISA(winograd_output_tiles);
  const WinogradPlanes planes{g.in_h, g.in_w, g.pad_h, g.pad_w, g.out_h, g.out_w, C * in_plane, O * out_plane};

  // The three steps over one chunk of T tiles (its runs), each over a range of what it splits.
  // V[xi] (C x T): the transformed input patches, channel by channel, so that each plane is read
  // front to back (the hardware prefetcher follows one stream, not one per channel), written in
  // the GEMM's packed layout (gemm_packed_b reads it in place); false when an input was not
  // finite.
  auto transform_inputs = [&](const std::vector<WinogradRun>& runs, std::int64_t c0, std::int64_t c1, float* v,
                              std::int64_t T) {
    const gemm::PackedBLayout vl = gemm::packed_b_layout(u[0], T);
    const std::int64_t v_stride = point_stride(vl.size());
    bool finite = true;
    for (std::int64_t c = c0; c < c1; ++c) {
      const WinogradVLayout layout{v_stride, vl.nr, vl.panel_stride(c)};
      finite &= input_tiles(runs.data(), static_cast<std::int64_t>(runs.size()), planes, input + c * in_plane,
                            v + vl.row_start(c), layout);
      if (const std::int64_t tail = T % vl.nr; tail != 0) {
        // The last panel's columns past T, which the micro-kernel reads too.
        float* pad = v + vl.row_start(c) + (vl.n_padded / vl.nr - 1) * layout.panel_stride + tail;
        for (int xi = 0; xi < kPoints; ++xi) std::fill_n(pad + xi * v_stride, vl.nr - tail, 0.0f);
      }
    }
    return finite;
  };
  // M[xi] (O x T) = U[xi] V[xi].
  auto multiply = [&](std::int64_t xi0, std::int64_t xi1, const float* v, float* m, std::int64_t T) {
    const std::int64_t v_stride = point_stride(gemm::packed_b_layout(u[0], T).size());
    for (std::int64_t xi = xi0; xi < xi1; ++xi) {
      gemm::gemm_packed_b(T, 1.0f, u[xi], v + xi * v_stride, 0.0f, m + xi * point_stride(O * T), T);
    }
  };
  // Y = A^T M A per tile, with the bias and the epilogue, into the output planes.
  auto transform_outputs = [&](const std::vector<WinogradRun>& runs, std::int64_t o0, std::int64_t o1, const float* m,
                               std::int64_t T) {
    for (std::int64_t o = o0; o < o1; ++o) {
      output_tiles(runs.data(), static_cast<std::int64_t>(runs.size()), planes, m + o * T, point_stride(O * T),
                   bias ? bias[o] : 0.0f, ep.residual ? ep.residual + o * out_plane : nullptr, ep.relu,
                   out + o * out_plane);
    }
  };
  // Scratch floats of V and M for a chunk of T tiles.
  const auto v_floats = [&](std::int64_t T) {
    return static_cast<size_t>(kPoints * point_stride(gemm::packed_b_layout(u[0], T).size()));
  };
  const auto m_floats = [&](std::int64_t T) { return static_cast<size_t>(kPoints * point_stride(O * T)); };

  if (chunks == 1 && num_threads() > 1 && !in_parallel_region()) {
    // Too few tiles for a chunk per thread (one 8x8 map): the threads split each step instead,
    // channels, then the 16 GEMMs, then output channels.
    const std::vector<WinogradRun> runs = chunk_runs(g, 0, total);
    AlignedBuffer<float> v_overflow, m_overflow;
    float* v = t_v_scratch.get(v_floats(total), v_overflow);
    float* m = t_m_scratch.get(m_floats(total), m_overflow);
    std::atomic<bool> finite{true};
    parallel_for(C, [&](std::int64_t c0, std::int64_t c1) {
      if (!transform_inputs(runs, c0, c1, v, total)) finite.store(false, std::memory_order_relaxed);
    });
    if (!finite.load()) return false;
    parallel_tasks(kPoints, [&](std::int64_t xi, int) { multiply(xi, xi + 1, v, m, total); });
    parallel_for(O, [&](std::int64_t o0, std::int64_t o1) { transform_outputs(runs, o0, o1, m, total); });
    return true;
  }

  // A chunk per task, all three steps on one thread, its V and M in that thread's cache.
  std::atomic<bool> finite{true};
  parallel_tasks(chunks, [&](std::int64_t chunk, int) {
    if (!finite.load(std::memory_order_relaxed)) return;
    const std::int64_t t0 = chunk * per_chunk, t1 = std::min(total, t0 + per_chunk), T = t1 - t0;
    AlignedBuffer<float> v_overflow, m_overflow;
    float* v = t_v_scratch.get(v_floats(T), v_overflow);
    float* m = t_m_scratch.get(m_floats(T), m_overflow);
    const std::vector<WinogradRun> runs = chunk_runs(g, t0, t1);
    if (!transform_inputs(runs, 0, C, v, T)) {
      finite.store(false, std::memory_order_relaxed);
      return;
    }
    multiply(0, kPoints, v, m, T);
    transform_outputs(runs, 0, O, m, T);
  });
  return finite.load();
}

}  // namespace cpu
}  // namespace flexconv
