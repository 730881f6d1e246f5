// Device choice for the pointwise bindings: every tensor of a call must be on one device, and
// a CUDA tensor in a build without CUDA is a DeviceError, never a crash.
#pragma once
#include <initializer_list>
#include <string>

#include "core/errors.h"
#include "core/tensor_view.h"

namespace flexconv {
namespace binding {

// True if the (defined) tensors are on the GPU; throws if they disagree or CUDA is missing.
inline bool use_cuda(const char* fn, std::initializer_list<const TensorView*> tensors) {
  const TensorView* first = nullptr;
  for (const TensorView* t : tensors) {
    if (t->data == nullptr && t->shape.empty()) continue;  // an absent optional tensor
    if (!first) {
      first = t;
    } else if (t->device != first->device) {
      throw Error(ErrorCode::Device, std::string(fn) +
                                         ": all tensors must be on one device, but some are on cpu "
                                         "and some on cuda");
    }
  }
  if (!first || first->device != Device::CUDA) return false;
#ifndef FLEXCONV_WITH_CUDA
  throw Error(ErrorCode::Device,
              std::string(fn) + ": flexconv was built without CUDA, so CUDA tensors are not supported");
#else
  return true;
#endif
}

inline void expect_numel(const TensorView& t, std::int64_t numel, const char* fn, const char* name) {
  if (t.numel() != numel) {
    throw Error(ErrorCode::ShapeMismatch, std::string(fn) + ": expected " + name + " to have " + std::to_string(numel) +
                                              " elements but received shape " + shape_to_string(t.shape));
  }
}

}  // namespace binding
}  // namespace flexconv
