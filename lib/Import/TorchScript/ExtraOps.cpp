//===- ExtraOps.cpp - schemas real files use that LibTorch 1.13 lacks -----===//
//
// TorchScript files from newer PyTorch and from other tools call operators
// that Debian's LibTorch 1.13 does not define; `torch::jit::load` compiles the
// serialized code and fails on the first unknown builtin. Registering their
// schemas (with a CPU implementation, so that LibTorch can also run the
// module and fold constants through them) before loading makes such files
// load. The importer maps each to kiln ops (CompositeOps.cpp).
//
//   aten::scaled_dot_product_attention   PyTorch 2.x, with its 2.5 arguments
//   circle_custom::rms_norm              Samsung TICO's RMSNorm custom op
//
//===----------------------------------------------------------------------===//
#include "ImporterImpl.h"

#include <torch/library.h>

#include <cmath>
#include <mutex>

namespace {

at::Tensor scaledDotProductAttention(
    const at::Tensor &query, const at::Tensor &key, const at::Tensor &value,
    const c10::optional<at::Tensor> &mask, double dropout, bool isCausal,
    c10::optional<double> scale, bool enableGqa) {
  TORCH_CHECK(dropout == 0.0,
              "scaled_dot_product_attention: dropout_p must be 0 at inference");
  int64_t d = query.size(-1);
  double s = scale ? *scale : 1.0 / std::sqrt(static_cast<double>(d));
  at::Tensor k = key, v = value;
  if (enableGqa && query.dim() >= 3 && key.size(-3) != query.size(-3)) {
    int64_t groups = query.size(-3) / key.size(-3);
    k = k.repeat_interleave(groups, -3);
    v = v.repeat_interleave(groups, -3);
  }
  at::Tensor scores = at::matmul(query, k.transpose(-2, -1)) * s;
  if (isCausal) {
    int64_t l = query.size(-2), t = key.size(-2);
    at::Tensor keep = at::ones({l, t}, query.options().dtype(at::kBool)).tril();
    scores = scores.masked_fill(keep.logical_not(),
                                -std::numeric_limits<float>::infinity());
  }
  if (mask && mask->defined()) {
    if (mask->scalar_type() == at::kBool)
      scores = scores.masked_fill(mask->logical_not(),
                                  -std::numeric_limits<float>::infinity());
    else
      scores = scores + *mask;
  }
  return at::matmul(at::softmax(scores, -1), v);
}

at::Tensor circleRmsNorm(const at::Tensor &x, const at::Tensor &weight,
                         double eps) {
  at::Tensor variance = x.pow(2).mean({-1}, /*keepdim=*/true);
  return weight * (x * at::rsqrt(variance + eps));
}

} // namespace

void kiln::torchscript::registerExtraOperators() {
  static std::once_flag once;
  std::call_once(once, [] {
    auto defined = [](const char *name) {
      return c10::Dispatcher::singleton()
          .findSchema(c10::OperatorName(name, ""))
          .has_value();
    };
    // Leaked on purpose: the registrations must outlive every load. A
    // LibTorch that already has an operator keeps its own.
    if (!defined("aten::scaled_dot_product_attention")) {
      auto *aten = new torch::Library(torch::Library::FRAGMENT, "aten",
                                      c10::nullopt, __FILE__, __LINE__);
      aten->def("scaled_dot_product_attention(Tensor query, Tensor key, "
                "Tensor value, Tensor? attn_mask=None, float dropout_p=0.0, "
                "bool is_causal=False, *, float? scale=None, "
                "bool enable_gqa=False) -> Tensor",
                &scaledDotProductAttention);
    }
    if (!defined("circle_custom::rms_norm")) {
      auto *circle = new torch::Library(torch::Library::DEF, "circle_custom",
                                        c10::nullopt, __FILE__, __LINE__);
      circle->def("rms_norm(Tensor hidden_states, Tensor weight, "
                  "float eps=1e-06) -> Tensor",
                  &circleRmsNorm);
    }
  });
}
