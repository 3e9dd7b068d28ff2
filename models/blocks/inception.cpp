#include "models/blocks/inception.h"

#include <algorithm>

#include "engine/nn/init.h"
#include "engine/ops.h"
#include "engine/random.h"

namespace sire::models {

BasicConv::BasicConv(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding,
                     bool transposed, bool activate, double init_std, nn::TransposedFanIn fan_in,
                     int64_t output_padding) {
  if (transposed) {
    conv_ = register_module("conv", std::make_shared<nn::ConvTranspose2d>(
                                        in, out, kernel, stride, padding, output_padding,
                                        !activate, fan_in));
  } else {
    auto c = std::make_shared<nn::Conv2d>(in, out, kernel, stride, padding, false);
    if (init_std > 0 && nn::init::enabled()) {  // torchvision: trunc_normal(0.01, -2, 2): never clipped
      default_generator().fill_normal(c->weight.data(), 0.0, init_std);
    }
    conv_ = register_module("conv", c);
  }
  // A reconstruction's last convolution keeps a bias (it has no batch norm to supply one).
  if (activate) bn_ = register_module("bn", std::make_shared<nn::BatchNorm2d>(out, 1e-3));
}

Variable BasicConv::forward(const Variable& x) {
  Variable h = conv_->forward(x);
  return bn_ ? ops::relu(bn_->forward(h)) : h;
}

std::string BasicConv::describe() const {
  return conv_->describe() + (bn_ ? " + BN + ReLU" : "");
}

Inception::Inception(InceptionChannels c, double init_std) : c_(c) {
  const auto fan = nn::TransposedFanIn::kInputChannels;
  auto basic = [&](int64_t in, int64_t out, int64_t k) {
    return std::make_shared<BasicConv>(in, out, k, 1, k / 2, false, true, init_std, fan);
  };
  for (int i = 0; i < 4; ++i)
    branches_[i] = register_module("branch" + std::to_string(i + 1), std::make_shared<nn::Sequential>());
  branches_[0]->add(basic(c.in, c.ch1x1, 1));
  branches_[1]->add(basic(c.in, c.ch3x3red, 1));
  branches_[1]->add(basic(c.ch3x3red, c.ch3x3, 3));
  // torchvision's "5x5" branch uses a 3x3 kernel (kept there for compatibility): so do we, for
  // its parameter count.
  branches_[2]->add(basic(c.in, c.ch5x5red, 1));
  branches_[2]->add(basic(c.ch5x5red, c.ch5x5, 3));
  branches_[3]->add(std::make_shared<nn::MaxPool2d>(3, 1, 1, true));
  branches_[3]->add(basic(c.in, c.pool_proj, 1));
}

Variable Inception::forward(const Variable& x) {
  std::vector<Variable> outs;
  for (auto& b : branches_) outs.push_back(b->forward(x));
  return ops::concat_channels(outs);
}

std::string Inception::describe() const {
  return str("Inception(", c_.in, " -> ", c_.ch1x1, "+", c_.ch3x3, "+", c_.ch5x5, "+",
             c_.pool_proj, ")");
}

InceptionTransposed::InceptionTransposed(InceptionChannels c, bool final, nn::TransposedFanIn fan_in)
    : c_(c) {
  auto basic_t = [&](int64_t in, int64_t out, int64_t k, bool last) {
    return std::make_shared<BasicConv>(in, out, k, 1, k / 2, true, !(last && final), 0.0, fan_in);
  };
  for (int i = 0; i < 4; ++i)
    branches_[i] = register_module("branch" + std::to_string(i + 1), std::make_shared<nn::Sequential>());
  branches_[0]->add(basic_t(c.ch1x1, c.in, 1, true));
  branches_[1]->add(basic_t(c.ch3x3, c.ch3x3red, 3, false));
  branches_[1]->add(basic_t(c.ch3x3red, c.in, 1, true));
  branches_[2]->add(basic_t(c.ch5x5, c.ch5x5red, 3, false));
  branches_[2]->add(basic_t(c.ch5x5red, c.in, 1, true));
  branches_[3]->add(basic_t(c.pool_proj, c.in, 1, true));
  branches_[3]->add(std::make_shared<nn::MaxPool2d>(3, 1, 1, true));
}

Variable InceptionTransposed::forward(const Variable& x) {
  const int64_t widths[4] = {c_.ch1x1, c_.ch3x3, c_.ch5x5, c_.pool_proj};
  int64_t begin = 0;
  Variable sum;
  for (int i = 0; i < 4; ++i) {
    Variable y = branches_[i]->forward(ops::slice_channels(x, begin, widths[i]));
    sum = i == 0 ? y : ops::add(sum, y);
    begin += widths[i];
  }
  return sum;
}

std::string InceptionTransposed::describe() const {
  return str("InceptionTransposed(", c_.ch1x1, "+", c_.ch3x3, "+", c_.ch5x5, "+", c_.pool_proj,
             " -> ", c_.in, ")");
}

}  // namespace sire::models
