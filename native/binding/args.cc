#include "binding/args.h"

#include <cmath>

#include "binding/cuda_memory.h"
#include "binding/env_state.h"
#include "core/errors.h"

namespace flexconv {
namespace binding {

std::string describe_js_value(const Napi::Value& value) {
  if (value.IsUndefined()) return "undefined";
  if (value.IsNull()) return "null";
  if (value.IsNumber()) return std::to_string(value.As<Napi::Number>().DoubleValue()) + " of type number";
  if (value.IsBoolean()) return "boolean";
  if (value.IsString()) return "string \"" + value.As<Napi::String>().Utf8Value() + "\"";
  if (value.IsTypedArray()) return "a typed array";
  if (value.IsArray()) return "an array";
  if (value.IsFunction()) return "a function";
  return "an object";
}

Napi::Value Args::property(napi_value object, const char* key) const {
  napi_env env = info_.Env();
  napi_value name = nullptr;
  for (size_t k = 0; k < key_count_ && name == nullptr; ++k) {
    if (keys_[k].first == key) name = keys_[k].second;
  }
  if (name == nullptr) {
    name = property_key(info_.Env(), key);
    if (key_count_ < keys_.size()) keys_[key_count_++] = {key, name};
  }
  napi_value value = nullptr;
  NAPI_THROW_IF_FAILED(env, napi_get_property(env, object, name, &value), Napi::Value());
  return Napi::Value(env, value);
}

bool Args::is_nullish(size_t i) const {
  Napi::Value v = at(i);
  return v.IsUndefined() || v.IsNull();
}

void Args::fail(const std::string& message) const {
  throw Error(ErrorCode::InvalidArgument, std::string(fn_) + ": " + message);
}

// The fast path of every call: raw N-API, one query per fact (napi_get_typedarray_info gives the
// type, length and data at once; napi_get_value_double fails on non-numbers), property names
// made once per context and fetched once per call (property). Whatever fails is described again,
// at leisure, for the message.
TensorView Args::tensor(size_t i, const char* name) const {
  Napi::Value v = at(i);
  if (!v.IsObject()) {  // arrays and typed arrays pass here and fail on their missing shape
    fail(std::string("expected ") + name + " to be a Tensor but received " + describe_js_value(v));
  }
  napi_env env = info_.Env();
  Napi::Value shape_value = property(v, "shape");
  uint32_t ndim = 0;
  if (napi_get_array_length(env, shape_value, &ndim) != napi_ok) {
    fail(std::string("expected ") + name + " to be a Tensor (with a shape array) but received " + describe_js_value(v));
  }
  TensorView view;
  view.shape.reserve(ndim);
  for (uint32_t d = 0; d < ndim; ++d) {
    napi_value dim = nullptr;
    double x = -1.0;
    if (napi_get_element(env, shape_value, d, &dim) != napi_ok) throw Napi::Error::New(env);
    if (napi_get_value_double(env, dim, &x) != napi_ok) x = -1.0;
    if (!(x >= 0) || std::floor(x) != x || x > 9.0e15) {
      fail(std::string("expected ") + name + ".shape to hold non-negative integers but dimension " + std::to_string(d) +
           " is " + describe_js_value(Napi::Value(env, dim)));
    }
    view.shape.push_back(static_cast<std::int64_t>(x));
  }
  const std::int64_t numel = view.numel();
  Napi::Value buffer = property(v, "buffer");
  napi_typedarray_type type = napi_int8_array;
  size_t length = 0;
  void* data = nullptr;
  if (napi_get_typedarray_info(env, buffer, &type, &length, &data, nullptr, nullptr) == napi_ok) {
    if (type != napi_float32_array) fail(std::string("expected ") + name + ".buffer to be a Float32Array");
    if (static_cast<std::int64_t>(length) != numel) {
      fail(std::string(name) + " has shape " + shape_to_string(view.shape) + " (" + std::to_string(numel) +
           " elements) but its buffer holds " + std::to_string(length) + " (was it disposed?)");
    }
    view.data = static_cast<float*>(data);
    view.device = Device::CPU;
  } else if (CudaMemory* mem = unwrap_cuda_memory(buffer)) {
    if (mem->floats() != numel) {
      fail(std::string(name) + " has shape " + shape_to_string(view.shape) + " but its CUDA buffer holds " +
           std::to_string(mem->floats()) + " floats (was it disposed?)");
    }
    view.data = mem->data();
    view.device = Device::CUDA;
  } else {
    fail(std::string("expected ") + name + " to be a live Tensor but its buffer is " + describe_js_value(buffer) +
         " (was it disposed?)");
  }
  return view;
}

TensorView Args::optional_tensor(size_t i, const char* name) const {
  if (is_nullish(i)) return TensorView{};
  return tensor(i, name);
}

double Args::number(size_t i, const char* name) const {
  Napi::Value v = at(i);
  if (!v.IsNumber()) fail(std::string("expected ") + name + " to be a number but received " + describe_js_value(v));
  return v.As<Napi::Number>().DoubleValue();
}

std::int64_t Args::integer(size_t i, const char* name) const { return integer(at(i), name); }

std::int64_t Args::integer(const Napi::Value& v, const std::string& name) const {
  const double x = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : NAN;
  if (!std::isfinite(x) || std::floor(x) != x || std::fabs(x) > 9.0e15) {
    fail("expected " + name + " to be an integer but received " + describe_js_value(v));
  }
  return static_cast<std::int64_t>(x);
}

bool Args::boolean(size_t i, const char* name) const { return boolean(at(i), name); }

bool Args::boolean(const Napi::Value& v, const std::string& name) const {
  if (!v.IsBoolean()) fail("expected " + name + " to be a boolean but received " + describe_js_value(v));
  return v.As<Napi::Boolean>().Value();
}

Napi::Value Args::option(size_t i, const char* name, const char* key) const {
  Napi::Value v = at(i);
  if (!v.IsObject() || v.IsArray() || v.IsTypedArray() || v.IsFunction()) {
    fail(std::string("expected ") + name + " to be an options object but received " + describe_js_value(v));
  }
  return property(v, key);
}

std::array<std::int64_t, 2> Args::option_pair(size_t i, const char* key, std::int64_t min) const {
  const Napi::Value v = option(i, "options", key);
  napi_env env = info_.Env();
  std::array<std::int64_t, 2> pair{};
  uint32_t length = 0;
  bool ok = napi_get_array_length(env, v, &length) == napi_ok && length == 2;
  for (uint32_t k = 0; ok && k < 2; ++k) {
    napi_value element = nullptr;
    double x = NAN;
    ok = napi_get_element(env, v, k, &element) == napi_ok && napi_get_value_double(env, element, &x) == napi_ok &&
         std::floor(x) == x && x >= static_cast<double>(min) && x <= 9.0e15;
    pair[k] = static_cast<std::int64_t>(ok ? x : 0);
  }
  if (!ok) {
    fail(std::string("expected options.") + key + " to hold 2 integers >= " + std::to_string(min) +
         " ([h, w]) but received " + describe_js_value(v));
  }
  return pair;
}

std::string Args::string(size_t i, const char* name) const {
  Napi::Value v = at(i);
  if (!v.IsString()) fail(std::string("expected ") + name + " to be a string but received " + describe_js_value(v));
  return v.As<Napi::String>().Utf8Value();
}

std::vector<std::int64_t> Args::int_list(size_t i, const char* name) const { return int_list(at(i), name); }

std::vector<std::int64_t> Args::int_list(const Napi::Value& v, const std::string& name) const {
  if (!v.IsArray()) fail("expected " + name + " to be an array of integers but received " + describe_js_value(v));
  Napi::Array arr = v.As<Napi::Array>();
  std::vector<std::int64_t> out;
  for (uint32_t k = 0; k < arr.Length(); ++k) {
    Napi::Value e = arr.Get(k);
    double x = e.IsNumber() ? e.As<Napi::Number>().DoubleValue() : NAN;
    if (!std::isfinite(x) || std::floor(x) != x) {
      fail("expected " + name + "[" + std::to_string(k) + "] to be an integer but received " + describe_js_value(e));
    }
    out.push_back(static_cast<std::int64_t>(x));
  }
  return out;
}

Napi::Float32Array Args::float_array(size_t i, const char* name) const {
  Napi::Value v = at(i);
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    fail(std::string("expected ") + name + " to be a Float32Array but received " + describe_js_value(v));
  }
  return v.As<Napi::Float32Array>();
}

void expect_ndim(const TensorView& t, int ndim, const char* fn, const char* name) {
  if (t.ndim() != ndim) {
    throw Error(ErrorCode::ShapeMismatch, std::string(fn) + ": expected " + name + " to have " + std::to_string(ndim) +
                                              " dimensions but received shape " + shape_to_string(t.shape));
  }
}

void expect_shape(const TensorView& t, const std::vector<std::int64_t>& expected, const char* fn, const char* name) {
  if (t.shape != expected) {
    throw Error(ErrorCode::ShapeMismatch, std::string(fn) + ": expected " + name + " of shape " +
                                              shape_to_string(expected) + " but received " + shape_to_string(t.shape));
  }
}

void expect_same_device(const TensorView& a, const TensorView& b, const char* fn, const char* name_a,
                        const char* name_b) {
  if (a.device != b.device) {
    throw Error(ErrorCode::Device, std::string(fn) + ": " + name_a + " is on " +
                                       (a.device == Device::CPU ? "cpu" : "cuda") + " but " + name_b + " is on " +
                                       (b.device == Device::CPU ? "cpu" : "cuda"));
  }
}

}  // namespace binding
}  // namespace flexconv
