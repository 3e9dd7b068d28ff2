// GoogLeNet's inception module (torchvision's definition: four branches, concatenated), and
// its inverse for SIRe decoders: the input is split into the four branches' channel groups,
// each branch runs with transposed convolutions in reverse order back to the inception's input
// channels, the pooling branch keeps its 3x3 max-pool (paper §4.3: it is only partly
// invertible, and a stride-1 pool keeps the size), and the four results are summed.
#pragma once

#include <array>

#include "engine/nn/layers.h"

namespace sire::models {

struct InceptionChannels {
  int64_t in, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj;
  int64_t out() const { return ch1x1 + ch3x3 + ch5x5 + pool_proj; }
};

// Convolution (no bias) + batch norm (eps 1e-3) + ReLU, torchvision's BasicConv2d; transposed
// on request; `activate` false leaves out the batch norm and the ReLU (a reconstruction's end).
class BasicConv : public nn::Module {
 public:
  BasicConv(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding,
            bool transposed, bool activate, double init_std, nn::TransposedFanIn fan_in,
            int64_t output_padding = 0);
  Variable forward(const Variable& x) override;
  std::string describe() const override;

 private:
  std::shared_ptr<nn::Module> conv_, bn_;
};

class Inception : public nn::Module {
 public:
  Inception(InceptionChannels c, double init_std);
  Variable forward(const Variable& x) override;
  std::string describe() const override;

 private:
  InceptionChannels c_;
  std::array<std::shared_ptr<nn::Sequential>, 4> branches_;
};

class InceptionTransposed : public nn::Module {
 public:
  // `final`: the block produces a reconstruction, so its branches end without BN and ReLU.
  InceptionTransposed(InceptionChannels c, bool final, nn::TransposedFanIn fan_in);
  Variable forward(const Variable& x) override;
  std::string describe() const override;

 private:
  InceptionChannels c_;
  std::array<std::shared_ptr<nn::Sequential>, 4> branches_;
};

}  // namespace sire::models
