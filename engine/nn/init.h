// Weight initializations, matching PyTorch's defaults so that runs are comparable with it.
#pragma once

#include <cmath>

#include "engine/random.h"

namespace sire::nn::init {

// PyTorch's default for Conv2d, ConvTranspose2d and Linear weights and biases
// (kaiming_uniform with a = sqrt(5)): U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
inline void default_uniform(Tensor& t, int64_t fan_in, Generator& g = default_generator()) {
  const double bound = fan_in > 0 ? 1.0 / std::sqrt(static_cast<double>(fan_in)) : 0.0;
  g.fill_uniform(t, -bound, bound);
}

// He et al.'s normal init with the fan-out (torchvision's ResNet convolutions).
inline void kaiming_normal_fan_out(Tensor& t, int64_t fan_out, Generator& g = default_generator()) {
  g.fill_normal(t, 0.0, std::sqrt(2.0 / static_cast<double>(fan_out)));
}

}  // namespace sire::nn::init
