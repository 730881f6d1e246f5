// The formulas of the elementwise family, written once for the CPU loops (cpu/elementwise.cc)
// and the CUDA kernels (cuda/elementwise.cu). Each op is a template parameter so the loops
// that call it are specialised per op (no switch inside the hot loop, which would stop
// vectorisation).
//
// Op codes are part of the binding's interface: lib/ops/elementwise.ts sends the same numbers.
#pragma once
#include <cmath>
#include <cstdint>

#include "math/hd.h"

namespace flexconv {
namespace math {

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
  kAffine = 9,   // a * x + b  (scale, add a scalar)
  kPow = 10,     // x ^ a
  kClamp = 11,   // min(max(x, a), b)
  kAbs = 12,
  kUnaryCount = 13,
};

enum BinaryOp : int {
  kAdd = 0,
  kSub = 1,
  kMul = 2,
  kDiv = 3,
  kSecond = 4,  // out = b: broadcasts b to the output's shape (expand)
  kBinaryCount = 5,
};

FLEXCONV_HD float sigmoidf(float x) {
  // Never evaluates exp of a large positive number: stable for any x.
  if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
  const float e = expf(x);
  return e / (1.0f + e);
}

template <int Op>
FLEXCONV_HD float unary_forward(float x, float a, float b) {
  if constexpr (Op == kNeg) return -x;
  if constexpr (Op == kExp) return expf(x);
  if constexpr (Op == kLog) return logf(x);
  if constexpr (Op == kSqrt) return sqrtf(x);
  if constexpr (Op == kRelu) return x > 0.0f ? x : 0.0f;
  if constexpr (Op == kLeakyRelu) return x > 0.0f ? x : a * x;
  if constexpr (Op == kSigmoid) return sigmoidf(x);
  if constexpr (Op == kTanh) return tanhf(x);
  if constexpr (Op == kSilu) return x * sigmoidf(x);
  if constexpr (Op == kAffine) return a * x + b;
  if constexpr (Op == kPow) return powf(x, a);
  if constexpr (Op == kClamp) return fminf(fmaxf(x, a), b);
  if constexpr (Op == kAbs) return fabsf(x);
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
  if constexpr (Op == kPow) return a == 0.0f ? 0.0f : g * a * powf(x, a - 1.0f);
  // Gradient passes where the input was inside [a, b] (PyTorch's convention at the bounds).
  if constexpr (Op == kClamp) return (x >= a && x <= b) ? g : 0.0f;
  if constexpr (Op == kAbs) return x > 0.0f ? g : (x < 0.0f ? -g : 0.0f);
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

// log(1 + exp(-|x|)) + max(-x, 0) = log(1 + exp(-x)), computed without overflow.
FLEXCONV_HD float softplus_neg(float x) { return log1pf(expf(-fabsf(x))) + fmaxf(-x, 0.0f); }

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

// Counter-based random numbers (a splitmix64-style mixer of seed and element index): the
// value of element i does not depend on how the work is split across threads or on the
// device, so dropout masks are reproducible from one seed.
FLEXCONV_HD float uniform_from_counter(std::uint64_t seed, std::uint64_t i) {
  std::uint64_t z = seed + (i + 1) * 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<float>(z >> 40) * (1.0f / 16777216.0f);  // 24 bits: exact in float, in [0, 1)
}

}  // namespace math
}  // namespace flexconv
