// A non-owning view of a contiguous float32 tensor: what kernels receive. Ownership stays
// in JavaScript (lib/tensor.ts); the binding checks that the buffer is as long as the shape
// says before a kernel ever sees it.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace flexconv {

enum class Device { CPU, CUDA };

struct TensorView {
  float* data = nullptr;
  std::vector<std::int64_t> shape;
  Device device = Device::CPU;

  int ndim() const { return static_cast<int>(shape.size()); }
  std::int64_t dim(int i) const { return shape[static_cast<std::size_t>(i < 0 ? i + ndim() : i)]; }
  std::int64_t numel() const {
    std::int64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
  }
  bool defined() const { return data != nullptr || numel() == 0; }
};

inline std::string shape_to_string(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

}  // namespace flexconv
