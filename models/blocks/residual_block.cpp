#include "models/blocks/residual_block.h"

#include "engine/nn/init.h"
#include "engine/ops.h"

namespace sire::models {

std::shared_ptr<nn::Module> ResidualBlock::conv(const BlockStage& s) {
  if (options_.transposed)
    return std::make_shared<nn::ConvTranspose2d>(s.in, s.out, s.kernel, s.stride, s.padding,
                                                 s.output_padding, false, options_.fan_in);
  auto c = std::make_shared<nn::Conv2d>(s.in, s.out, s.kernel, s.stride, s.padding, false);
  if (options_.kaiming_fan_out) nn::init::kaiming_normal_fan_out(c->weight.data(), s.out * s.kernel * s.kernel);
  return c;
}

ResidualBlock::ResidualBlock(std::vector<BlockStage> stages, const BlockStage* projection,
                             ResidualBlockOptions options, std::string name)
    : options_(options), name_(std::move(name)) {
  for (size_t i = 0; i < stages.size(); ++i) {
    convs_.push_back(register_module("conv" + std::to_string(i + 1), conv(stages[i])));
    bns_.push_back(register_module("bn" + std::to_string(i + 1),
                                   std::make_shared<nn::BatchNorm2d>(stages[i].out, options.bn_eps)));
  }
  if (projection) {
    auto seq = register_module("downsample", std::make_shared<nn::Sequential>());
    proj_conv_ = conv(*projection);
    proj_bn_ = std::make_shared<nn::BatchNorm2d>(projection->out, options.bn_eps);
    seq->add(proj_conv_);
    seq->add(proj_bn_);
  }
}

Variable ResidualBlock::forward(const Variable& x) {
  Variable h = x;
  for (size_t i = 0; i < convs_.size(); ++i) {
    h = bns_[i]->forward(convs_[i]->forward(h));
    if (i + 1 < convs_.size()) h = ops::relu(h);
  }
  const Variable shortcut = proj_conv_ ? proj_bn_->forward(proj_conv_->forward(x)) : x;
  h = ops::add(h, shortcut);
  return options_.final_relu ? ops::relu(h) : h;
}

}  // namespace sire::models
