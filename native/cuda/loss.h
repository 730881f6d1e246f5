// CUDA losses and dropout behind the same interface as cpu/loss.h (device pointers).
#pragma once
#include <cstdint>

namespace flexconv {
namespace cuda {

void cross_entropy_forward(const float* logits, const float* target, std::int64_t N, std::int64_t C, std::int64_t S,
                           std::int64_t ignore_index, float smoothing, float* loss, float* stats);
void cross_entropy_backward(const float* logits, const float* target, const float* stats, const float* weight,
                            bool weight_per_position, float scale, std::int64_t N, std::int64_t C, std::int64_t S,
                            std::int64_t ignore_index, float smoothing, float* grad);
void bce_logits_forward(const float* x, const float* y, const float* pw, float pw_scalar, float* out, std::int64_t n);
void bce_logits_backward(const float* x, const float* y, const float* pw, float pw_scalar, const float* g,
                         bool g_per_element, float scale, float* gx, float* gy, std::int64_t n);
void dropout_forward(const float* x, float* out, float* mask, std::int64_t n, float p, std::uint64_t seed);

}  // namespace cuda
}  // namespace flexconv
