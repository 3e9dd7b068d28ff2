#include "engine/nn/layers.h"

#include "engine/nn/init.h"
#include "engine/ops.h"

namespace sire::nn {

namespace init {
namespace {
thread_local bool g_enabled = true;
}
bool enabled() { return g_enabled; }
SkipGuard::SkipGuard() : previous_(g_enabled) { g_enabled = false; }
SkipGuard::~SkipGuard() { g_enabled = previous_; }
}  // namespace init

Conv2d::Conv2d(int64_t in, int64_t out, int64_t k, int64_t s, int64_t p, bool has_bias)
    : in_channels(in), out_channels(out), kernel(k), stride(s), padding(p) {
  SIRE_CHECK(in > 0 && out > 0 && k > 0 && s > 0 && p >= 0, "Conv2d(", in, ", ", out,
             ", kernel=", k, ", stride=", s, ", padding=", p, "): invalid arguments");
  Tensor w = Tensor::empty({out, in, k, k});
  init::default_uniform(w, in * k * k);
  weight = register_parameter("weight", w);
  if (has_bias) {
    Tensor b = Tensor::empty({out});
    init::default_uniform(b, in * k * k);
    bias = register_parameter("bias", b);
  }
}

Variable Conv2d::forward(const Variable& x) { return ops::conv2d(x, weight, bias, stride, padding); }

std::string Conv2d::describe() const {
  return str("Conv2d(", in_channels, ", ", out_channels, ", kernel=", kernel, ", stride=", stride,
             ", padding=", padding, bias.defined() ? "" : ", bias=false", ")");
}

ConvTranspose2d::ConvTranspose2d(int64_t in, int64_t out, int64_t k, int64_t s, int64_t p,
                                 int64_t op, bool has_bias, TransposedFanIn fan_in)
    : in_channels(in), out_channels(out), kernel(k), stride(s), padding(p), output_padding(op) {
  SIRE_CHECK(in > 0 && out > 0 && k > 0 && s > 0 && p >= 0 && op >= 0 && op < s,
             "ConvTranspose2d(", in, ", ", out, ", kernel=", k, ", stride=", s, ", padding=", p,
             ", output_padding=", op, "): invalid arguments");
  const int64_t fan = (fan_in == TransposedFanIn::kPyTorch ? out : in) * k * k;
  Tensor w = Tensor::empty({in, out, k, k});
  init::default_uniform(w, fan);
  weight = register_parameter("weight", w);
  if (has_bias) {
    Tensor b = Tensor::empty({out});
    init::default_uniform(b, fan);
    bias = register_parameter("bias", b);
  }
}

Variable ConvTranspose2d::forward(const Variable& x) {
  return ops::conv_transpose2d(x, weight, bias, stride, padding, output_padding);
}

std::string ConvTranspose2d::describe() const {
  return str("ConvTranspose2d(", in_channels, ", ", out_channels, ", kernel=", kernel,
             ", stride=", stride, ", padding=", padding,
             output_padding ? str(", output_padding=", output_padding) : "",
             bias.defined() ? "" : ", bias=false", ")");
}

Linear::Linear(int64_t in, int64_t out, bool has_bias) : in_features(in), out_features(out) {
  SIRE_CHECK(in > 0 && out > 0, "Linear(", in, ", ", out, "): invalid arguments");
  Tensor w = Tensor::empty({out, in});
  init::default_uniform(w, in);
  weight = register_parameter("weight", w);
  if (has_bias) {
    Tensor b = Tensor::empty({out});
    init::default_uniform(b, in);
    bias = register_parameter("bias", b);
  }
}

Variable Linear::forward(const Variable& x) { return ops::linear(x, weight, bias); }

std::string Linear::describe() const {
  return str("Linear(", in_features, ", ", out_features, bias.defined() ? "" : ", bias=false", ")");
}

BatchNorm2d::BatchNorm2d(int64_t c, double eps, double momentum)
    : channels(c), eps(eps), momentum(momentum) {
  SIRE_CHECK(c > 0, "BatchNorm2d(", c, "): invalid channel count");
  weight = register_parameter("weight", Tensor::full({c}, 1.0));
  bias = register_parameter("bias", Tensor::zeros({c}));
  running_mean = register_buffer("running_mean", Tensor::zeros({c}));
  running_var = register_buffer("running_var", Tensor::full({c}, 1.0));
}

Variable BatchNorm2d::forward(const Variable& x) {
  return ops::batch_norm(x, weight, bias, &running_mean.data(), &running_var.data(), is_training(),
                         momentum, eps, fused_relu);
}

Variable BatchNorm2d::forward_add(const Variable& x, const Variable& add) {
  SIRE_CHECK(fused_relu, "BatchNorm2d::forward_add: only after a fused ReLU");
  return ops::batch_norm_relu_add(x, weight, bias, &running_mean.data(), &running_var.data(),
                                  is_training(), momentum, eps, add);
}

Variable BatchNorm2d::forward_add_relu(const Variable& x, const Variable& add) {
  SIRE_CHECK(!fused_relu, "BatchNorm2d::forward_add_relu: the batch norm already has its ReLU");
  return ops::batch_norm_add_relu(x, weight, bias, &running_mean.data(), &running_var.data(),
                                  is_training(), momentum, eps, add);
}

std::string BatchNorm2d::describe() const {
  return str("BatchNorm2d(", channels, ", eps=", eps, ", momentum=", momentum, ")",
             fused_relu ? " + ReLU" : "");
}

Variable Dropout::forward(const Variable& x) {
  if (!is_training() || p == 0.0) return x;
  Generator& g = default_generator();
  return ops::dropout(x, p, true, g.seed(), g.next_stream());
}

std::string Dropout::describe() const { return str("Dropout(p=", p, ")"); }

Variable ReLU::forward(const Variable& x) { return ops::relu(x); }

Variable MaxPool2d::forward(const Variable& x) {
  return ops::max_pool2d(x, kernel, stride, padding, ceil_mode);
}

std::string MaxPool2d::describe() const {
  return str("MaxPool2d(kernel=", kernel, ", stride=", stride,
             padding ? str(", padding=", padding) : "", ceil_mode ? ", ceil_mode=true" : "", ")");
}

Variable Upsample::forward(const Variable& x) {
  return scale > 0 ? ops::upsample_nearest2d(x, scale) : ops::upsample_nearest2d(x, out_h, out_w);
}

Variable Upsample::forward_add(const Variable& x, const Variable& add) {
  const int64_t h = scale > 0 ? x.size(2) * scale : out_h,
                w = scale > 0 ? x.size(3) * scale : out_w;
  SIRE_CHECK(add.data().ndim() == 4 && add.size(2) == h && add.size(3) == w, describe(), " of ",
             x.shape(), " gives ", h, "x", w, " planes, but the tensor added is ", add.shape());
  return ops::upsample_nearest2d_add(x, add);
}

std::string Upsample::describe() const {
  return scale > 0 ? str("Upsample(scale=", scale, ")")
                   : str("Upsample(size=", out_h, "x", out_w, ")");
}

Variable AdaptiveAvgPool2d::forward(const Variable& x) {
  return ops::adaptive_avg_pool2d(x, out_h, out_w);
}

std::string AdaptiveAvgPool2d::describe() const {
  return str("AdaptiveAvgPool2d(", out_h, "x", out_w, ")");
}

Variable Flatten::forward(const Variable& x) { return ops::flatten(x); }

Sequential::Sequential(std::vector<std::shared_ptr<Module>> layers) {
  for (auto& l : layers) add(std::move(l));
}

void Sequential::add(std::shared_ptr<Module> layer, const std::string& name) {
  register_module(name.empty() ? std::to_string(children().size()) : name, std::move(layer));
}

Variable Sequential::forward(const Variable& x) {
  Variable y = x;
  for (auto& [name, layer] : children()) y = layer->forward(y);
  return y;
}

std::string Sequential::describe() const {
  std::string s = "Sequential(\n";
  for (auto& [name, layer] : children()) s += "  (" + name + "): " + layer->describe() + "\n";
  return s + ")";
}

}  // namespace sire::nn
