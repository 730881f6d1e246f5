// Linear layers at inference with their weight packed once (linearPackWeight, linearPacked):
// the GEMM reads the packed weight in place instead of transposing it into panels per call.
#include <memory>
#include <string>

#include "binding/args.h"
#include "binding/registry.h"
#include "core/errors.h"
#include "cpu/conv2d.h"
#include "cpu/gemm/gemm.h"

namespace flexconv {
namespace binding {
namespace {

const napi_type_tag kPackedLinearTag = {0x61d2b07e94c35a18ULL, 0x2fe8c4a1d9b7306cULL};

// A weight [out, in] packed as the GEMM's B operand (in x out).
using PackedLinearWeight = gemm::PackedB;

const PackedLinearWeight& packed_linear_weight(Args& args, std::size_t index) {
  Napi::Value v = args.value(index);
  bool tagged = false;
  if (v.IsExternal()) napi_check_object_type_tag(v.Env(), v, &kPackedLinearTag, &tagged);
  if (!tagged) args.fail("expected packed to be a handle from linearPackWeight");
  return *v.As<Napi::External<PackedLinearWeight>>().Data();
}

}  // namespace

// linearPackWeight(weight [out, in]) -> handle holding its own packed copy (CPU).
FLEXCONV_EXPORT(linearPackWeight) {
  Args args(info, "linearPackWeight");
  TensorView w = args.tensor(0, "weight");
  expect_ndim(w, 2, "linearPackWeight", "weight");
  if (w.device != Device::CPU) args.fail("expected weight on the CPU");
  auto packed =
      std::make_unique<PackedLinearWeight>(w.dim(1), w.dim(0), gemm::MatrixB(w.data, w.dim(1), /*trans=*/true));
  auto ext = Napi::External<PackedLinearWeight>::New(info.Env(), packed.release(),
                                                     [](Napi::Env, PackedLinearWeight* p) { delete p; });
  napi_type_tag_object(info.Env(), ext, &kPackedLinearTag);
  return ext;
}

// linearPacked(x [rows, in], packed, bias [out] | null, out [rows, out]): out = x W^T + bias.
FLEXCONV_EXPORT(linearPacked) {
  Args args(info, "linearPacked");
  TensorView x = args.tensor(0, "x");
  const PackedLinearWeight& packed = packed_linear_weight(args, 1);
  TensorView bias = args.optional_tensor(2, "bias");
  TensorView out = args.tensor(3, "out");
  const std::int64_t in = packed.depth(), features = packed.cols();
  expect_ndim(x, 2, "linearPacked", "x");
  if (x.dim(1) != in) {
    args.fail("expected x with " + std::to_string(in) + " features (the packed weight's) but received shape " +
              shape_to_string(x.shape));
  }
  expect_shape(out, {x.dim(0), features}, "linearPacked", "out");
  const bool has_bias = !args.is_nullish(2);
  if (has_bias) expect_shape(bias, {features}, "linearPacked", "bias");
  for (const TensorView* t : {&x, &out, &bias}) {
    if ((t != &bias || has_bias) && t->device != Device::CPU) args.fail("runs on CPU tensors only");
  }
  gemm::gemm(x.dim(0), 1.0f, gemm::MatrixA(x.data, in, /*trans=*/false), packed, 0.0f, out.data, features);
  if (has_bias) cpu::add_channel_bias(x.dim(0), features, 1, bias.data, out.data);
  return info.Env().Undefined();
}

// linearPackedInfo(handle) -> { bytes, inFeatures, outFeatures }.
FLEXCONV_EXPORT(linearPackedInfo) {
  Args args(info, "linearPackedInfo");
  const PackedLinearWeight& packed = packed_linear_weight(args, 0);
  Napi::Object result = Napi::Object::New(info.Env());
  result.Set("bytes", static_cast<double>(packed.size()) * sizeof(float));
  result.Set("inFeatures", static_cast<double>(packed.depth()));
  result.Set("outFeatures", static_cast<double>(packed.cols()));
  return result;
}

}  // namespace binding
}  // namespace flexconv
