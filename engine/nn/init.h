// Weight initializations, matching PyTorch's defaults so that runs are comparable with it.
#pragma once

#include <cmath>

#include "engine/random.h"

namespace sire::nn::init {

// Initialization can be skipped (the weights stay uninitialized memory) where only the
// structure matters: `sire info` counts 177M parameters without drawing them.
bool enabled();
class SkipGuard {
 public:
  SkipGuard();
  ~SkipGuard();
  SkipGuard(const SkipGuard&) = delete;
  SkipGuard& operator=(const SkipGuard&) = delete;

 private:
  bool previous_;
};

// PyTorch's default for Conv2d, ConvTranspose2d and Linear weights and biases
// (kaiming_uniform with a = sqrt(5)): U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
inline void default_uniform(Tensor& t, int64_t fan_in, Generator& g = default_generator()) {
  if (!enabled()) return;
  const double bound = fan_in > 0 ? 1.0 / std::sqrt(static_cast<double>(fan_in)) : 0.0;
  g.fill_uniform(t, -bound, bound);
}

// He et al.'s normal init with the fan-out (torchvision's ResNet convolutions).
inline void kaiming_normal_fan_out(Tensor& t, int64_t fan_out, Generator& g = default_generator()) {
  if (!enabled()) return;
  g.fill_normal(t, 0.0, std::sqrt(2.0 / static_cast<double>(fan_out)));
}

}  // namespace sire::nn::init
