// Argument parsing for binding functions. Every accessor names the argument in its error
// ("conv2d: expected weight to be a Tensor but received number"), and tensor() checks that
// the buffer really holds as many floats as the shape says, so no kernel can read past it.
//
// A tensor crosses the boundary as the JS Tensor object itself: native code reads its
// `shape` (array of non-negative integers) and `buffer` (a Float32Array on the CPU, a CUDA
// memory handle on the GPU). See lib/tensor.ts.
#pragma once
#include <napi.h>

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor_view.h"

namespace flexconv {
namespace binding {

class Args {
 public:
  Args(const Napi::CallbackInfo& info, const char* function_name) : info_(info), fn_(function_name) {}

  Napi::Env env() const { return info_.Env(); }
  const char* function_name() const { return fn_; }
  size_t size() const { return info_.Length(); }
  // args[i] as given (undefined past the end), for readers of special values (native handles).
  Napi::Value value(size_t i) const { return at(i); }
  bool is_nullish(size_t i) const;

  TensorView tensor(size_t i, const char* name) const;
  // An absent (null/undefined) tensor gives a view with data == nullptr and empty shape.
  TensorView optional_tensor(size_t i, const char* name) const;
  std::int64_t integer(size_t i, const char* name) const;
  double number(size_t i, const char* name) const;
  bool boolean(size_t i, const char* name) const;
  std::string string(size_t i, const char* name) const;
  std::vector<std::int64_t> int_list(size_t i, const char* name) const;
  // Property `key` of the options object at args[i] (undefined when the object lacks it); the
  // readers below take such a value and name it "<name>.<key>" in their errors.
  Napi::Value option(size_t i, const char* name, const char* key) const;
  std::vector<std::int64_t> int_list(const Napi::Value& v, const std::string& name) const;
  // options[key] of the options object at args[i]: an [h, w] pair of integers, each >= min.
  std::array<std::int64_t, 2> option_pair(size_t i, const char* key, std::int64_t min) const;
  std::int64_t integer(const Napi::Value& v, const std::string& name) const;
  bool boolean(const Napi::Value& v, const std::string& name) const;
  Napi::Float32Array float_array(size_t i, const char* name) const;

  // "<function>: <message>" as an InvalidArgument error.
  [[noreturn]] void fail(const std::string& message) const;

 private:
  Napi::Value at(size_t i) const { return i < info_.Length() ? info_[i] : info_.Env().Undefined(); }
  // object[key] for a string literal `key`; a getter that throws is thrown on as Napi::Error.
  Napi::Value property(napi_value object, const char* key) const;
  const Napi::CallbackInfo& info_;
  const char* fn_;
  // The key strings this call has used (property): a few per call, each fetched once.
  mutable std::array<std::pair<const char*, napi_value>, 8> keys_{};
  mutable size_t key_count_ = 0;
};

// "number", "null", "Float32Array", ... for messages.
std::string describe_js_value(const Napi::Value& value);

// Kernels check shapes with these; the message names the argument and both shapes.
void expect_shape(const TensorView& t, const std::vector<std::int64_t>& expected, const char* fn, const char* name);
void expect_ndim(const TensorView& t, int ndim, const char* fn, const char* name);
void expect_same_device(const TensorView& a, const TensorView& b, const char* fn, const char* name_a,
                        const char* name_b);

}  // namespace binding
}  // namespace flexconv
