// Fused losses: the contract both backends implement (cpu/loss.cc, cuda/loss.cu).
// Cross-entropy (log-softmax + NLL + label smoothing) reads logits viewed as [N, C, S] (S = H*W
// for segmentation, 1 for classification); targets are class indices stored as floats,
// already validated by the binding.
#pragma once
#include <cstdint>

namespace flexconv {

// cross_entropy_forward: loss[n*S+s] (0 where target == ignore_index) and, for the backward,
// stats[2*(n*S+s)] = the maximum logit and stats[2*(n*S+s)+1] = log(sum exp(logit - maximum)).
// cross_entropy_backward: grad[n,c,s] = w * (softmax - (1-eps)[c==t] - eps/C), w =
// weight[n*S+s] (or weight[0] when weight_per_position is false) times scale; 0 at ignored
// positions.
// bce_logits_forward: out = (1-y) x + (1 + (pw-1) y) log(1 + exp(-x)); pw may be null (then
// pw_scalar is used). bce_logits_backward: gx, gy (either may be null) from g (per element, or
// g[0] if !g_per_element) times scale.
#define FLEXCONV_LOSS_ENTRY_POINTS                                                                                     \
  void cross_entropy_forward(const float* logits, const float* target, std::int64_t N, std::int64_t C, std::int64_t S, \
                             std::int64_t ignore_index, float smoothing, float* loss, float* stats);                   \
  void cross_entropy_backward(const float* logits, const float* target, const float* stats, const float* weight,       \
                              bool weight_per_position, float scale, std::int64_t N, std::int64_t C, std::int64_t S,   \
                              std::int64_t ignore_index, float smoothing, float* grad);                                \
  void bce_logits_forward(const float* x, const float* y, const float* pw, float pw_scalar, float* out,                \
                          std::int64_t n);                                                                             \
  void bce_logits_backward(const float* x, const float* y, const float* pw, float pw_scalar, const float* g,           \
                           bool g_per_element, float scale, float* gx, float* gy, std::int64_t n);

namespace cpu {
FLEXCONV_LOSS_ENTRY_POINTS
}  // namespace cpu
namespace cuda {
FLEXCONV_LOSS_ENTRY_POINTS
}  // namespace cuda
#undef FLEXCONV_LOSS_ENTRY_POINTS

}  // namespace flexconv
