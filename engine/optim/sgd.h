// Stochastic gradient descent with momentum, Nesterov momentum and weight decay, with PyTorch's
// update rule (see SgdStep in engine/backend.h), one fused kernel per parameter.
#pragma once

#include <vector>

#include "engine/autograd/variable.h"

namespace sire::optim {

struct SgdOptions {
  double lr = 0.01;
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;
};

class Sgd {
 public:
  Sgd(std::vector<Variable> params, SgdOptions options);

  // Updates every parameter that has a gradient; a parameter without one is left alone.
  void step();
  // Forgets every parameter's gradient.
  void zero_grad();

  double lr() const { return options_.lr; }
  void set_lr(double lr) { options_.lr = lr; }
  const SgdOptions& options() const { return options_; }
  const std::vector<Variable>& params() const { return params_; }
  // One per parameter; undefined until that parameter's first step. Saved in checkpoints.
  std::vector<Tensor>& momentum_buffers() { return buffers_; }
  int64_t steps() const { return steps_; }
  void set_steps(int64_t steps) { steps_ = steps; }

 private:
  std::vector<Variable> params_;
  std::vector<Tensor> buffers_;
  SgdOptions options_;
  int64_t steps_ = 0;
};

}  // namespace sire::optim
