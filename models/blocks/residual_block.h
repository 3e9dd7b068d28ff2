// ResNet's residual blocks and their transposes (for SIRe decoders), as one module: a chain of
// convolution + batch-norm stages (ReLU between them), a shortcut that is the identity or a
// 1x1 projection + batch norm, their sum, and a final ReLU.
//   basic block:      3x3 (stride s) -> 3x3                       (He et al., ResNet-18/34)
//   bottleneck:       1x1 -> 3x3 (stride s) -> 1x1 (4x width)       (ResNet-50, stride on the 3x3)
//   transposed:       the same stages in reverse order with transposed convolutions, channels
//                     swapped, the stride on the mirrored stage and the exact output size.
// Children are named as torchvision names them: conv1, bn1, conv2, ..., downsample.0/.1.
#pragma once

#include <vector>

#include "engine/nn/layers.h"

namespace sire::models {

struct BlockStage {
  int64_t in, out, kernel, stride, padding;
  int64_t output_padding = 0;  // transposed stages only
};

struct ResidualBlockOptions {
  bool transposed = false;
  bool final_relu = true;
  double bn_eps = 1e-5;
  bool kaiming_fan_out = false;  // torchvision's ResNet init for the convolutions
  nn::TransposedFanIn fan_in = nn::TransposedFanIn::kInputChannels;
};

class ResidualBlock : public nn::Module {
 public:
  // `projection`: the shortcut's 1x1 convolution (in, out, stride, output_padding), or none
  // when in == out and stride == 1.
  ResidualBlock(std::vector<BlockStage> stages, const BlockStage* projection,
                ResidualBlockOptions options, std::string name);
  Variable forward(const Variable& x) override;
  std::string describe() const override { return name_; }

 private:
  std::shared_ptr<nn::Module> conv(const BlockStage& s);
  std::vector<std::shared_ptr<nn::Module>> convs_, bns_;
  std::shared_ptr<nn::Module> proj_conv_, proj_bn_;
  ResidualBlockOptions options_;
  std::string name_;
};

}  // namespace sire::models
