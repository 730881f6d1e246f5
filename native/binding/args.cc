#include "binding/args.h"

#include <cmath>

#include "binding/cuda_memory.h"
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

bool Args::is_nullish(size_t i) const {
  Napi::Value v = at(i);
  return v.IsUndefined() || v.IsNull();
}

void Args::fail(const std::string& message) const {
  throw Error(ErrorCode::InvalidArgument, std::string(fn_) + ": " + message);
}

TensorView Args::tensor(size_t i, const char* name) const {
  Napi::Value v = at(i);
  if (!v.IsObject() || v.IsTypedArray() || v.IsArray()) {
    fail(std::string("expected ") + name + " to be a Tensor but received " + describe_js_value(v));
  }
  Napi::Object obj = v.As<Napi::Object>();
  Napi::Value shape_value = obj.Get("shape");
  Napi::Value buffer = obj.Get("buffer");
  if (!shape_value.IsArray()) {
    fail(std::string("expected ") + name + " to be a Tensor (with a shape array) but received " + describe_js_value(v));
  }
  TensorView view;
  Napi::Array shape = shape_value.As<Napi::Array>();
  for (uint32_t d = 0; d < shape.Length(); ++d) {
    Napi::Value dim = shape.Get(d);
    double x = dim.IsNumber() ? dim.As<Napi::Number>().DoubleValue() : -1.0;
    if (!(x >= 0) || std::floor(x) != x || x > 9.0e15) {
      fail(std::string("expected ") + name + ".shape to hold non-negative integers but dimension " + std::to_string(d) +
           " is " + describe_js_value(dim));
    }
    view.shape.push_back(static_cast<std::int64_t>(x));
  }
  const std::int64_t numel = view.numel();
  if (buffer.IsTypedArray()) {
    Napi::TypedArray ta = buffer.As<Napi::TypedArray>();
    if (ta.TypedArrayType() != napi_float32_array) {
      fail(std::string("expected ") + name + ".buffer to be a Float32Array");
    }
    Napi::Float32Array f32 = buffer.As<Napi::Float32Array>();
    if (static_cast<std::int64_t>(f32.ElementLength()) != numel) {
      fail(std::string(name) + " has shape " + shape_to_string(view.shape) + " (" + std::to_string(numel) +
           " elements) but its buffer holds " + std::to_string(f32.ElementLength()) + " (was it disposed?)");
    }
    view.data = f32.Data();
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
  return v.As<Napi::Object>().Get(key);
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
