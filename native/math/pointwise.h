// The formulas of the elementwise family, written once for the CPU loops (cpu/elementwise.cc)
// and the CUDA kernels (cuda/elementwise.cu). Each op is a template parameter so the loops
// that call it are specialised per op (no switch inside the hot loop, which would stop
// vectorisation).
//
// Op codes are part of the binding's interface: lib/ops/elementwise.ts sends the same numbers.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#include "math/hd.h"

namespace flexconv {
namespace math {
// Internal linkage: this header is compiled into files built with different instruction sets
// (cpu/elementwise_unary_isa.cc, once per instruction set). An inline function the compiler chose not to
// inline would otherwise be one shared symbol, and the linker could hand the AVX-512 copy to
// the portable code.
namespace {

// y = f(x; a, b). a and b are the op's scalar parameters (slope, scale, exponent, bounds).
enum UnaryOp : int {
  kNeg = 0,
  kExp = 1,
  kLog = 2,
  kSqrt = 3,
  kRelu = 4,
  kLeakyRelu = 5,  // a = negative slope
  kSigmoid = 6,
  kTanh = 7,
  kSilu = 8,
  kAffine = 9,  // a * x + b  (scale, add a scalar)
  kPow = 10,    // x ^ a
  kClamp = 11,  // min(max(x, a), b)
  kAbs = 12,
  kSoftplus = 13,  // log(1 + exp(a x)) / a, x where a x > b (PyTorch's beta = a, threshold = b)
  kUnaryCount = 14,
};

// Every unary op once, for the switches that instantiate one loop per op (the CPU loops of
// cpu/elementwise_unary_isa.cc, the kernels of cuda/elementwise.cu): a new op is its enum
// value, its formulas below and one entry here.
#define FLEXCONV_FOR_EACH_UNARY_OP(X) \
  X(kNeg)                             \
  X(kExp)                             \
  X(kLog)                             \
  X(kSqrt)                            \
  X(kRelu)                            \
  X(kLeakyRelu)                       \
  X(kSigmoid)                         \
  X(kTanh)                            \
  X(kSilu)                            \
  X(kAffine)                          \
  X(kPow)                             \
  X(kClamp)                           \
  X(kAbs)                             \
  X(kSoftplus)

enum BinaryOp : int {
  kAdd = 0,
  kSub = 1,
  kMul = 2,
  kDiv = 3,
  kSecond = 4,  // out = b: broadcasts b to the output's shape (expand)
  kBinaryCount = 5,
};

// Every binary op, for the backends' dispatch switches (as FLEXCONV_FOR_EACH_UNARY_OP).
#define FLEXCONV_FOR_EACH_BINARY_OP(X) \
  X(kAdd)                              \
  X(kSub)                              \
  X(kMul)                              \
  X(kDiv)                              \
  X(kSecond)

FLEXCONV_HD float int_bits_to_float(std::int32_t bits) {
#ifdef __CUDA_ARCH__
  return __int_as_float(bits);
#else
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
#endif
}

// exp(x) without branches or library calls, so loops over it vectorise (glibc's expf does
// not without -ffast-math). Cephes' method: x = n ln2 + r with |r| <= ln2/2 (ln2 split in two
// for exactness), a degree-7 polynomial for e^r, and 2^n built from exponent bits in two
// halves. Clamping the input to [-104, 89] lets the final product underflow to 0 (through
// the denormals) or overflow to inf by itself, so there is no select after the fact (which
// would stop GCC from vectorising under -ftrapping-math); NaN propagates through the
// arithmetic. Within 2 ulp of expf for normal results.
// vexpf's constants, named so that the AVX-512 softmax rows' copy of it (cpu/row_ops_isa.cc,
// which must give the same bits) reads the same ones.
constexpr float kExpMax = 89.0f, kExpMin = -104.0f;
constexpr float kExpLog2e = 1.44269504088896341f, kExpRound = 12582912.0f;  // 1.5 * 2^23
constexpr float kExpLn2Hi = 0.693359375f, kExpLn2Lo = -2.12194440e-4f;
constexpr float kExpP0 = 1.9875691500e-4f, kExpP1 = 1.3981999507e-3f, kExpP2 = 8.3334519073e-3f,
                kExpP3 = 4.1665795894e-2f, kExpP4 = 1.6666665459e-1f, kExpP5 = 5.0000001201e-1f;

FLEXCONV_HD float vexpf(float x) {
  // Ternaries, not fminf/fmaxf or floorf: on baseline x86-64 those are library calls.
  float xc = x > kExpMax ? kExpMax : x;
  xc = xc < kExpMin ? kExpMin : xc;
  // Round to nearest by adding and subtracting 1.5 * 2^23 (exact for |n| < 2^22).
  const float n = (xc * kExpLog2e + kExpRound) - kExpRound;
  float r = xc - n * kExpLn2Hi;
  r = r - n * kExpLn2Lo;
  float p = kExpP0;
  p = p * r + kExpP1;
  p = p * r + kExpP2;
  p = p * r + kExpP3;
  p = p * r + kExpP4;
  p = p * r + kExpP5;
  p = p * r * r + r + 1.0f;
  const std::int32_t ni = static_cast<std::int32_t>(n);
  const std::int32_t half = ni / 2;
  const std::uint32_t e1 = static_cast<std::uint32_t>(half + 127) << 23;
  const std::uint32_t e2 = static_cast<std::uint32_t>(ni - half + 127) << 23;
  return p * int_bits_to_float(static_cast<std::int32_t>(e1)) * int_bits_to_float(static_cast<std::int32_t>(e2));
}

FLEXCONV_HD std::int32_t float_to_int_bits(float f) {
#ifdef __CUDA_ARCH__
  return __float_as_int(f);
#else
  std::int32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  return bits;
#endif
}

// log(x) without branches or library calls (glibc's logf does not vectorise): Cephes' logf.
// x = m 2^e with m in [sqrt(1/2), sqrt(2)) from the bits (subnormals scaled by 2^25 first), then
// log(m) = f - f^2 / 2 + f^3 P(f) with f = m - 1 and e ln2 added in two parts. Within 2 ulp of
// logf; log(+-0) = -inf, log(x < 0) = NaN, log(inf) = inf, NaN stays NaN.
FLEXCONV_HD float vlogf(float x) {
  const bool subnormal = x < 1.17549435e-38f;  // (also zero and negatives: replaced at the end)
  const float xs = subnormal ? x * 33554432.0f : x;
  const std::int32_t bits = float_to_int_bits(xs);
  const std::int32_t e = ((bits >> 23) & 0xff) - 126;  // xs = m 2^e, m in [0.5, 1)
  const float m = int_bits_to_float((bits & 0x007fffff) | 0x3f000000);
  const bool low = m < 0.707106781186547524f;
  const float f = low ? m + m - 1.0f : m - 1.0f;
  const float fe = static_cast<float>(low ? e - 1 : e) - (subnormal ? 25.0f : 0.0f);
  const float z = f * f;
  float y = 7.0376836292e-2f;
  y = y * f - 1.1514610310e-1f;
  y = y * f + 1.1676998740e-1f;
  y = y * f - 1.2420140846e-1f;
  y = y * f + 1.4249322787e-1f;
  y = y * f - 1.6668057665e-1f;
  y = y * f + 2.0000714765e-1f;
  y = y * f - 2.4999993993e-1f;
  y = y * f + 3.3333331174e-1f;
  y = y * f * z;
  y = y + -2.12194440e-4f * fe;
  y = y - 0.5f * z;
  float r = f + y;
  r = r + 0.693359375f * fe;
  const float inf = int_bits_to_float(0x7f800000), nan = int_bits_to_float(0x7fc00000);
  r = x == 0.0f ? -inf : r;
  r = x < 0.0f ? nan : r;
  r = x == inf ? inf : r;
  return x != x ? x : r;
}

// log(1 + u) for u >= 0 from vlogf: log(w) u / (w - 1) with w = 1 + u corrects w's rounding
// (Goldberg), u itself where w rounds to 1, inf for inf.
FLEXCONV_HD float vlog1pf(float u) {
  const float w = 1.0f + u;
  const float r = w == 1.0f ? u : vlogf(w) * (u / (w - 1.0f));
  return u == int_bits_to_float(0x7f800000) ? u : r;
}

// tanh(x) without library calls: Cephes' tanhf. |x| < 0.625: x (1 + x^2 P(x^2)) (an odd
// polynomial; -0 stays -0); beyond: 1 - 2 / (e^2|x| + 1) with x's sign (e^2|x| overflows to inf
// past 44: exactly 1). NaN stays NaN.
FLEXCONV_HD float vtanhf(float x) {
  const float ax = x < 0.0f ? -x : x;
  const float z = x * x;
  float p = -5.70498872745e-3f;
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  const float small = x * (1.0f + z * p);
  float big = 1.0f - 2.0f / (vexpf(ax + ax) + 1.0f);
  big = x < 0.0f ? -big : big;
  return ax < 0.625f ? small : big;
}

// x^a as PyTorch computes pow with a scalar exponent: 2, 3, -2 as products, 0.5 and -0.5 by a
// square root, -1 a division, 1 and 0 exactly (its same bits); powf otherwise.
FLEXCONV_HD float pow_scalar_exponent(float x, float a) {
  if (a == 2.0f) return x * x;
  if (a == 3.0f) return x * x * x;
  if (a == 0.5f) return sqrtf(x);
  if (a == -0.5f) return 1.0f / sqrtf(x);
  if (a == -1.0f) return 1.0f / x;
  if (a == -2.0f) return 1.0f / (x * x);
  if (a == 1.0f) return x;
  if (a == 0.0f) return 1.0f;
  return powf(x, a);
}

FLEXCONV_HD float sigmoidf(float x) {
  // 1 / (1 + e^-x) is stable for any x: e^-x overflows to inf for very negative x and the
  // result is 0, never NaN. Branch-free, so it vectorises.
  return 1.0f / (1.0f + vexpf(-x));
}

template <int Op>
FLEXCONV_HD float unary_forward(float x, float a, float b) {
  if constexpr (Op == kNeg) return -x;
  if constexpr (Op == kExp) return vexpf(x);
#ifdef __CUDA_ARCH__
  if constexpr (Op == kLog) return logf(x);
  if constexpr (Op == kTanh) return tanhf(x);
#else
  if constexpr (Op == kLog) return vlogf(x);
  if constexpr (Op == kTanh) return vtanhf(x);
#endif
  if constexpr (Op == kSqrt) return sqrtf(x);
  if constexpr (Op == kRelu) return x < 0.0f ? 0.0f : x;  // NaN stays NaN, as in PyTorch
  if constexpr (Op == kLeakyRelu) return x > 0.0f ? x : a * x;
  if constexpr (Op == kSigmoid) return sigmoidf(x);
  if constexpr (Op == kSilu) return x * sigmoidf(x);
  if constexpr (Op == kAffine) return a * x + b;
  if constexpr (Op == kPow) return pow_scalar_exponent(x, a);
  if constexpr (Op == kClamp) return x < a ? a : (x > b ? b : x);  // NaN stays NaN
  if constexpr (Op == kAbs) return fabsf(x);
#ifdef __CUDA_ARCH__
  if constexpr (Op == kSoftplus) return a * x > b ? x : log1pf(vexpf(a * x)) / a;
#else
  if constexpr (Op == kSoftplus) return a * x > b ? x : vlog1pf(vexpf(a * x)) / a;
#endif
  return 0.0f;
}

// dL/dx given g = dL/dy, the input x and the output y (whichever the formula needs).
template <int Op>
FLEXCONV_HD float unary_backward(float g, float x, float y, float a, float b) {
  if constexpr (Op == kNeg) return -g;
  if constexpr (Op == kExp) return g * y;
  if constexpr (Op == kLog) return g / x;
  if constexpr (Op == kSqrt) return g * 0.5f / y;
  if constexpr (Op == kRelu) return x > 0.0f ? g : 0.0f;
  if constexpr (Op == kLeakyRelu) return x > 0.0f ? g : a * g;
  if constexpr (Op == kSigmoid) return g * y * (1.0f - y);
  if constexpr (Op == kTanh) return g * (1.0f - y * y);
  if constexpr (Op == kSilu) {
    const float s = sigmoidf(x);
    return g * s * (1.0f + x * (1.0f - s));
  }
  if constexpr (Op == kAffine) return g * a;
  if constexpr (Op == kPow) return a == 0.0f ? 0.0f : g * a * pow_scalar_exponent(x, a - 1.0f);
  // Gradient passes where the input was inside [a, b] (PyTorch's convention at the bounds).
  if constexpr (Op == kClamp) return (x >= a && x <= b) ? g : 0.0f;
  if constexpr (Op == kAbs) return x > 0.0f ? g : (x < 0.0f ? -g : 0.0f);
  if constexpr (Op == kSoftplus) return a * x > b ? g : g * sigmoidf(a * x);
  return 0.0f;
}

template <int Op>
FLEXCONV_HD float binary_forward(float a, float b) {
  if constexpr (Op == kAdd) return a + b;
  if constexpr (Op == kSub) return a - b;
  if constexpr (Op == kMul) return a * b;
  if constexpr (Op == kDiv) return a / b;
  if constexpr (Op == kSecond) return b;
  return 0.0f;
}

// log(1 + exp(-|x|)) + max(-x, 0) = log(1 + exp(-x)), computed without overflow (on the host by
// the vector formulas above, so the loss loops vectorise).
FLEXCONV_HD float softplus_neg(float x) {
#ifdef __CUDA_ARCH__
  return log1pf(expf(-fabsf(x))) + fmaxf(-x, 0.0f);
#else
  const float ax = x < 0.0f ? -x : x;
  return vlog1pf(vexpf(-ax)) + (x < 0.0f ? -x : 0.0f);
#endif
}

// Binary cross-entropy with logits, PyTorch's stable form:
//   l = (1 - y) x + (1 + (pw - 1) y) log(1 + exp(-x))
FLEXCONV_HD float bce_logits_forward(float x, float y, float pw) {
  return (1.0f - y) * x + (1.0f + (pw - 1.0f) * y) * softplus_neg(x);
}
// dl/dx = (1 - y) - (1 + (pw - 1) y) sigmoid(-x)
FLEXCONV_HD float bce_logits_grad_x(float x, float y, float pw) {
  return (1.0f - y) - (1.0f + (pw - 1.0f) * y) * sigmoidf(-x);
}
// dl/dy = -x + (pw - 1) log(1 + exp(-x))
FLEXCONV_HD float bce_logits_grad_y(float x, float y, float pw) { return -x + (pw - 1.0f) * softplus_neg(x); }

// Counter-based random numbers: a 32-bit integer hash (Wellons' lowbias32, applied twice to
// mix in both seed words and the index's high bits) of (seed, element index). The value of
// element i does not depend on how work is split across threads or on the device, so
// dropout masks are reproducible from one seed; 32-bit multiplies keep the loop vectorisable.
FLEXCONV_HD std::uint32_t hash32(std::uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  x ^= x >> 16;
  return x;
}

FLEXCONV_HD float uniform_from_counter(std::uint64_t seed, std::uint64_t i) {
  const std::uint32_t lo = static_cast<std::uint32_t>(i), hi = static_cast<std::uint32_t>(i >> 32);
  const std::uint32_t h =
      hash32(hash32(lo ^ static_cast<std::uint32_t>(seed)) + (hi ^ static_cast<std::uint32_t>(seed >> 32)));
  return static_cast<float>(h >> 8) * (1.0f / 16777216.0f);  // 24 bits: exact in float, in [0, 1)
}

}  // namespace
}  // namespace math
}  // namespace flexconv
