// The kernel-mixing loop of dynamic convolution written once for the vector ISAs; included
// inside an anonymous namespace by dynamic_conv2d_avx2.cc and dynamic_conv2d_avx512.cc, each
// with its own lane type V (so every instantiation stays local to the file compiled for it):
//   V::Reg, V::Mask, V::kWidth (floats per register), load / store / set1 / mul / fmadd,
//   first(n) (the mask of the first min(n, kWidth) lanes), load_masked / store_masked.
// Written with intrinsics rather than left to the compiler: compiled from a plain loop, GCC
// split the lanes into mixed-width and scalar pieces, and its chain of K dependent FMAs per
// vector waited on the FMA latency (AVX-512: a B128 8x8 batch's kernels mixed in 1.2 ms
// instead of 1.65 ms).
//
// Needs: <immintrin.h>, <cstdint>.

// Four registers of each sample's w at a time: four independent FMA chains over the K parts
// per sample. Mixing S samples per pass loads each expert register once for all S: the packed
// experts of a deep layer exceed L2 (4 x 288 KB for 64 -> 128 3x3), so for one sample at a
// time the loop streamed them from L3. Each sample's floats are computed the same way
// whatever S is. Returns where the whole blocks end.
template <class V, int S>
std::int64_t mix_blocks(std::int64_t K, std::int64_t len, const float* a, const float* const* parts,
                        std::int64_t offset, float* const* w) {
  constexpr int L = V::kWidth;
  const float* first = parts[0] + offset;
  std::int64_t d = 0;
  for (; d + 4 * L <= len; d += 4 * L) {
    typename V::Reg acc[S][4];
    const typename V::Reg x0 = V::load(first + d), x1 = V::load(first + d + L);
    const typename V::Reg x2 = V::load(first + d + 2 * L), x3 = V::load(first + d + 3 * L);
    for (int s = 0; s < S; ++s) {
      const typename V::Reg a0 = V::set1(a[s * K]);
      acc[s][0] = V::mul(a0, x0);
      acc[s][1] = V::mul(a0, x1);
      acc[s][2] = V::mul(a0, x2);
      acc[s][3] = V::mul(a0, x3);
    }
    for (std::int64_t k = 1; k < K; ++k) {
      const float* e = parts[k] + offset + d;
      const typename V::Reg e0 = V::load(e), e1 = V::load(e + L), e2 = V::load(e + 2 * L), e3 = V::load(e + 3 * L);
      for (int s = 0; s < S; ++s) {
        const typename V::Reg ak = V::set1(a[s * K + k]);
        acc[s][0] = V::fmadd(ak, e0, acc[s][0]);
        acc[s][1] = V::fmadd(ak, e1, acc[s][1]);
        acc[s][2] = V::fmadd(ak, e2, acc[s][2]);
        acc[s][3] = V::fmadd(ak, e3, acc[s][3]);
      }
    }
    for (int s = 0; s < S; ++s) {
      for (int r = 0; r < 4; ++r) V::store(w[s] + d + r * L, acc[s][r]);
    }
  }
  return d;
}

// DynamicMixFn (dynamic_conv2d_kernels.h) for lane type V.
template <class V>
void mix_simd(int samples, std::int64_t K, std::int64_t len, const float* a, const float* const* parts,
              std::int64_t offset, float* const* ws) {
  const std::int64_t start =
      samples == 2 ? mix_blocks<V, 2>(K, len, a, parts, offset, ws) : mix_blocks<V, 1>(K, len, a, parts, offset, ws);
  const float* first = parts[0] + offset;
  for (int s = 0; s < samples; ++s, a += K) {
    float* w = ws[s];
    const typename V::Reg a0 = V::set1(a[0]);
    // The rest one (possibly partial, masked) register at a time, with the same arithmetic.
    for (std::int64_t d = start; d < len; d += V::kWidth) {
      const typename V::Mask m = V::first(len - d);
      typename V::Reg acc = V::mul(a0, V::load_masked(m, first + d));
      for (std::int64_t k = 1; k < K; ++k) {
        acc = V::fmadd(V::set1(a[k]), V::load_masked(m, parts[k] + offset + d), acc);
      }
      V::store_masked(w + d, m, acc);
    }
  }
}
