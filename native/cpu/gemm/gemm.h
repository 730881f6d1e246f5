// The GEMM core every conv-like op feeds. C = alpha * A * B + beta * C in float32, row-major.
//
// Convolutions are implicit GEMMs: instead of materialising an im2col buffer they hand the
// driver a BSource (or ASource) that packs one block of the virtual matrix at a time, straight
// from the input tensor. The driver owns blocking, packing buffers, threading and the
// micro-kernel choice (AVX-512 / AVX2+FMA / portable, picked at run time).
//
// Packed layouts (what a source must write):
//   B block rows [k0, k0+kc) x cols [n0, n0+nc): ceil(nc/nr) panels one after another; panel
//     p holds, for each k in order, nr consecutive floats = columns n0+p*nr .. n0+p*nr+nr-1.
//     Columns past nc are written as 0 up to panel_read_width (the micro-kernels read whole
//     vectors of the last panel, never further); the rest of that panel may be left unwritten.
//   A block rows [m0, m0+mc) x cols [k0, k0+kc): ceil(mc/mr) panels; panel p holds, for each
//     k in order, mr consecutive floats = rows m0+p*mr .. m0+p*mr+mr-1. Rows past mc are 0.
// Sources are called concurrently from several threads on different blocks: pack() must
// only read shared state, and must not call gemm() itself (the driver's per-thread packing
// scratch is in use while pack() runs).
//
// Reusing A: when the same A (e.g. convolution weights) multiplies several B (every image of
// a batch), pack it once into a PackedA and call gemm(N, alpha, packedA, B, ...) per image.
#pragma once
#include <algorithm>
#include <cstdint>

namespace flexconv {
namespace gemm {

using std::int64_t;

// Columns of a last panel holding n columns that a micro-kernel reads: n rounded up to the
// widest vector (16 floats; every kernel's width divides it), at most nr.
inline int64_t panel_read_width(int64_t n, int nr) { return std::min<int64_t>(nr, (n + 15) / 16 * 16); }

class ASource {
 public:
  virtual ~ASource() = default;
  virtual void pack(int64_t m0, int64_t mc, int64_t k0, int64_t kc, int mr, float* dst) const = 0;
};

class BSource {
 public:
  virtual ~BSource() = default;
  virtual void pack(int64_t k0, int64_t kc, int64_t n0, int64_t nc, int nr, float* dst) const = 0;
};

// A plain row-major matrix as a GEMM operand: `data` with row stride `ld`, or its transpose
// when `trans`.
template <class Source>
class PlainMatrix : public Source {
 public:
  PlainMatrix(const float* data, int64_t ld, bool trans) : data_(data), ld_(ld), trans_(trans) {}

 protected:
  const float* data_;
  int64_t ld_;
  bool trans_;
};

// A plain row-major matrix as A (M x K). With trans, `data` holds A^T (K x M, row stride ld).
class MatrixA final : public PlainMatrix<ASource> {
 public:
  using PlainMatrix::PlainMatrix;
  void pack(int64_t m0, int64_t mc, int64_t k0, int64_t kc, int mr, float* dst) const override;
};

// A plain row-major matrix as B (K x N). With trans, `data` holds B^T (N x K, row stride ld).
class MatrixB final : public PlainMatrix<BSource> {
 public:
  using PlainMatrix::PlainMatrix;
  void pack(int64_t k0, int64_t kc, int64_t n0, int64_t nc, int nr, float* dst) const override;
};

// Columns first, first + 1, ... of another B operand: a task's share of its columns.
class ColumnRange final : public BSource {
 public:
  ColumnRange(const BSource& whole, int64_t first) : whole_(whole), first_(first) {}
  void pack(int64_t k0, int64_t kc, int64_t n0, int64_t nc, int nr, float* dst) const override {
    whole_.pack(k0, kc, first_ + n0, nc, nr, dst);
  }

 private:
  const BSource& whole_;
  int64_t first_;
};

// Whether gemm() takes a depth of K in one block. C is then read once per tile, after the whole
// sum: C = A B + C (beta 1) and C = A B, then c += x, round alike.
bool one_depth_block(int64_t K);

// Register-tile size of the micro-kernel in use (depends on the CPU and the ISA cap).
struct TileShape {
  int mr;
  int nr;
};
TileShape tile_shape();

// Whether gemm() of this size uses the thread pool here (outside a parallel region, more than
// one thread, enough multiply-adds to repay waking the workers).
bool runs_parallel(int64_t M, int64_t N, int64_t K);

// C (M x N, row stride ldc) = alpha * A * B + beta * C. beta == 0 never reads C (it may hold
// garbage or NaN). Uses the thread pool unless called from inside a parallel region.
void gemm(int64_t M, int64_t N, int64_t K, float alpha, const ASource& A, const BSource& B, float beta, float* C,
          int64_t ldc);

struct PackedBLayout;

// A packed once and reused by several gemm() calls (convolution weights applied to every
// image of a batch, or to every tile of one image). Packing uses the micro-kernel active at
// construction; later calls use that same kernel, so a set_isa_cap() in between is harmless.
class PackedA {
 public:
  // Packs the M x K matrix `A` (threaded unless called inside a parallel region).
  PackedA(int64_t M, int64_t K, const ASource& A);
  ~PackedA();
  PackedA(const PackedA&) = delete;
  PackedA& operator=(const PackedA&) = delete;
  PackedA(PackedA&& other) noexcept;
  PackedA& operator=(PackedA&& other) noexcept;

  int64_t rows() const { return M_; }
  int64_t depth() const { return K_; }

  // The packed floats, size() of them, in the driver's private layout. Packing is linear (a
  // permutation plus zero padding), so a linear combination, float by float, of PackedAs of
  // one shape packed by one kernel is the PackedA of that combination of their matrices:
  // dynamic convolution mixes its packed experts this way instead of packing every mixture.
  const float* data() const { return data_; }
  float* data() { return data_; }
  int64_t size() const;
  // A PackedA of this one's shape and kernel whose floats are unset (write them via data()).
  PackedA empty_like() const;

 private:
  PackedA() = default;
  friend void gemm(int64_t N, float alpha, const PackedA& A, const BSource& B, float beta, float* C, int64_t ldc);
  friend PackedBLayout packed_b_layout(const PackedA& A, int64_t N);
  friend void gemm_packed_b(int64_t N, float alpha, const PackedA& A, const float* b, float beta, float* C,
                            int64_t ldc);
  int64_t M_ = 0, K_ = 0;
  int isa_ = 0;  // the Isa whose kernel packed it (as int: keeps cpu_features.h out of here)
  int mr_ = 0;
  float* data_ = nullptr;  // aligned_malloc'd, see driver.cc for the block layout
};

// C (A.rows() x N) = alpha * A * B + beta * C with A pre-packed; B has A.depth() rows.
void gemm(int64_t N, float alpha, const PackedA& A, const BSource& B, float beta, float* C, int64_t ldc);

// Where a producer writes B (A.depth() x N) already packed, for gemm_packed_b to read in place
// instead of copying it block by block (the Winograd input transform writes its output this
// way). K is cut into the driver's k blocks; block kb (rows k0 .. k0 + kc - 1) starts at
// kb * k_block * n_padded floats and holds n_padded / nr panels of kc x nr floats, panel p at
// p * kc * nr: element (k, n) lies at row_start(k) + (n / nr) * panel_stride(k) + n % nr.
// Columns N .. n_padded - 1 must hold finite values (zeros): the micro-kernel reads whole
// panels.
struct PackedBLayout {
  int64_t depth;     // K
  int64_t k_block;   // rows of every k block but the last
  int64_t nr;        // columns per panel
  int64_t n_padded;  // N rounded up to nr

  int64_t row_start(int64_t k) const { return k / k_block * k_block * n_padded + k % k_block * nr; }
  int64_t panel_stride(int64_t k) const { return std::min(k_block, depth - k / k_block * k_block) * nr; }
  int64_t size() const { return depth * n_padded; }
};

// The layout of a B of N columns for A's kernel.
PackedBLayout packed_b_layout(const PackedA& A, int64_t N);

// C (A.rows() x N) = alpha * A * B + beta * C with B as packed_b_layout(A, N) lays it out, on the
// calling thread (its caller runs one per task: the Winograd chunks).
void gemm_packed_b(int64_t N, float alpha, const PackedA& A, const float* b, float beta, float* C, int64_t ldc);

// B packed once and reused by many gemm() calls: a linear layer's weight at inference, where
// packing it (a transposition: 2 MB for a 512 x 1000 classifier) would cost as much per call as
// the multiplication. The layout is packed_b_layout's for the kernel active at construction;
// later calls use that kernel.
class PackedB {
 public:
  // Packs the K x N matrix `B` (threaded unless called inside a parallel region).
  PackedB(int64_t K, int64_t N, const BSource& B);
  ~PackedB();
  PackedB(const PackedB&) = delete;
  PackedB& operator=(const PackedB&) = delete;

  int64_t depth() const { return K_; }
  int64_t cols() const { return N_; }
  // Floats held (the padded panels).
  int64_t size() const;

 private:
  friend void gemm(int64_t M, float alpha, const ASource& A, const PackedB& B, float beta, float* C, int64_t ldc);
  int64_t K_ = 0, N_ = 0;
  int isa_ = 0;  // the Isa whose kernel packed it
  int nr_ = 0;
  float* data_ = nullptr;  // aligned_malloc'd, PackedBLayout
};

// C (M x B.cols()) = alpha * A * B + beta * C with B pre-packed; A has B.depth() columns and is
// packed per call. Same operations in the same order as gemm() on the unpacked B.
void gemm(int64_t M, float alpha, const ASource& A, const PackedB& B, float beta, float* C, int64_t ldc);

// BLAS-style entry points on plain matrices.
void sgemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

void sgemm_strided_batched(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                           int64_t lda, int64_t strideA, const float* B, int64_t ldb, int64_t strideB, float beta,
                           float* C, int64_t ldc, int64_t strideC, int64_t batch);

}  // namespace gemm
}  // namespace flexconv
