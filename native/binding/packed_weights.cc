#include "binding/packed_weights.h"

#include <string>

#include "binding/registry.h"

namespace flexconv {
namespace binding {

namespace {
const napi_type_tag kPackedConvTag = {0x4b1f0c9d2e7a3856ULL, 0x9a03e6c1b8d4f27eULL};
}  // namespace

TensorView packable_weight(Args& args, std::int64_t& groups) {
  TensorView w = args.tensor(0, "weight");
  expect_ndim(w, 4, args.function_name(), "weight");
  groups = args.integer(1, "groups");
  if (w.device != Device::CPU) args.fail("expected weight on the CPU");
  if (groups < 1 || w.dim(0) % groups != 0) {
    args.fail("expected groups to divide the " + std::to_string(w.dim(0)) + " output channels but received " +
              std::to_string(groups));
  }
  return w;
}

Napi::Value wrap_packed_weights(Napi::Env env, std::unique_ptr<PackedConvWeights> packed) {
  auto ext =
      Napi::External<PackedConvWeights>::New(env, packed.release(), [](Napi::Env, PackedConvWeights* p) { delete p; });
  napi_type_tag_object(env, ext, &kPackedConvTag);
  return ext;
}

const PackedConvWeights* optional_packed_weights(Args& args, std::size_t index, const char* maker) {
  if (args.size() <= index || args.is_nullish(index)) return nullptr;
  Napi::Value v = args.value(index);
  bool tagged = false;
  if (v.IsExternal()) napi_check_object_type_tag(v.Env(), v, &kPackedConvTag, &tagged);
  if (!tagged) args.fail(std::string("expected packed to be a handle from ") + maker);
  return v.As<Napi::External<PackedConvWeights>>().Data();
}

}  // namespace binding

// packedWeightsInfo(handle) -> { bytes, winograd }: the memory the handle holds and whether it
// carries the Winograd copy of a 3x3 weight (cpu/conv2d_winograd.h).
FLEXCONV_EXPORT(packedWeightsInfo) {
  binding::Args args(info, "packedWeightsInfo");
  const PackedConvWeights* p = binding::optional_packed_weights(args, 0, "packConv2dWeight or packDeformConv2dWeight");
  if (p == nullptr) args.fail("expected a packed-weights handle but received null");
  double bytes = 0;
  for (const auto* set : {&p->per_group, &p->winograd, &p->kn2row}) {
    for (const gemm::PackedA& a : *set) bytes += static_cast<double>(a.size()) * sizeof(float);
  }
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("bytes", bytes);
  out.Set("winograd", !p->winograd.empty());
  return out;
}

}  // namespace flexconv
