// The unary loops (forward and gradient) over a range of elements, included by
// elementwise.cc (baseline SSE2), elementwise_unary_avx2.cc and elementwise_unary_avx512.cc,
// each compiling them for its instruction set inside an anonymous namespace. The op switch
// runs once per range, outside the loop.
//
// Needs: <cstdint>, math/pointwise.h.

template <int Op>
void unary_range(const float* __restrict x, float* __restrict y, std::int64_t begin, std::int64_t end, float a,
                 float b) {
  for (std::int64_t i = begin; i < end; ++i) y[i] = math::unary_forward<Op>(x[i], a, b);
}

// Four specialisations of the gradient loop so that each one reads only what it needs
// (no null checks inside the loop).
template <int Op>
void unary_backward_range(const float* __restrict g, const float* __restrict x, const float* __restrict y,
                          float* __restrict gx, std::int64_t begin, std::int64_t end, float a, float b) {
  if (x && y) {
    for (std::int64_t i = begin; i < end; ++i) gx[i] = math::unary_backward<Op>(g[i], x[i], y[i], a, b);
  } else if (x) {
    for (std::int64_t i = begin; i < end; ++i) gx[i] = math::unary_backward<Op>(g[i], x[i], 0.0f, a, b);
  } else if (y) {
    for (std::int64_t i = begin; i < end; ++i) gx[i] = math::unary_backward<Op>(g[i], 0.0f, y[i], a, b);
  } else {
    for (std::int64_t i = begin; i < end; ++i) gx[i] = math::unary_backward<Op>(g[i], 0.0f, 0.0f, a, b);
  }
}

#define FLEXCONV_UNARY_CASES(CALL)                     \
  switch (op) {                                        \
    case math::kNeg: CALL(math::kNeg); break;          \
    case math::kExp: CALL(math::kExp); break;          \
    case math::kLog: CALL(math::kLog); break;          \
    case math::kSqrt: CALL(math::kSqrt); break;        \
    case math::kRelu: CALL(math::kRelu); break;        \
    case math::kLeakyRelu: CALL(math::kLeakyRelu); break; \
    case math::kSigmoid: CALL(math::kSigmoid); break;  \
    case math::kTanh: CALL(math::kTanh); break;        \
    case math::kSilu: CALL(math::kSilu); break;        \
    case math::kAffine: CALL(math::kAffine); break;    \
    case math::kPow: CALL(math::kPow); break;          \
    case math::kClamp: CALL(math::kClamp); break;      \
    case math::kAbs: CALL(math::kAbs); break;          \
    default: break;                                    \
  }

// Op codes are validated by the caller (elementwise.cc) before any range runs.
inline void unary_range_any(int op, const float* x, float* y, std::int64_t begin, std::int64_t end, float a, float b) {
#define FLEXCONV_CALL(OP) unary_range<OP>(x, y, begin, end, a, b)
  FLEXCONV_UNARY_CASES(FLEXCONV_CALL)
#undef FLEXCONV_CALL
}

inline void unary_backward_range_any(int op, const float* g, const float* x, const float* y, float* gx,
                                     std::int64_t begin, std::int64_t end, float a, float b) {
#define FLEXCONV_CALL(OP) unary_backward_range<OP>(g, x, y, gx, begin, end, a, b)
  FLEXCONV_UNARY_CASES(FLEXCONV_CALL)
#undef FLEXCONV_CALL
}
#undef FLEXCONV_UNARY_CASES
