// Module: a layer or a network. It owns named parameters (Variables that require gradients and
// that the optimizer updates), named buffers (state that is saved but not trained, such as
// batch norm's running statistics) and named child modules; names nest with dots
// ("block1.conv1.weight"), as in PyTorch, so checkpoints line up with the model's layers.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/autograd/variable.h"

namespace sire::nn {

class Module {
 public:
  virtual ~Module() = default;

  virtual Variable forward(const Variable& x) = 0;
  Variable operator()(const Variable& x) { return forward(x); }
  // The layer's type and arguments, e.g. "Conv2d(3, 64, kernel=3, stride=1, padding=1)".
  virtual std::string describe() const = 0;

  std::vector<std::pair<std::string, Variable>> named_parameters() const;
  std::vector<Variable> parameters() const;
  // Buffers are Variables that never require gradients: a handle that to() can move in place.
  std::vector<std::pair<std::string, Variable>> named_buffers() const;
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children() const {
    return children_;
  }
  int64_t parameter_count() const;

  // Training mode (batch statistics, dropout on) or evaluation mode, for this module and its
  // children: always explicit, never guessed from the batch size.
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // Moves every parameter and buffer to `device` (an explicit copy, done once).
  void to(Device device);
  // Converts every parameter and buffer (f64 models serve gradient checks).
  void to(DType dtype);

 protected:
  Variable register_parameter(const std::string& name, Tensor value);
  Variable register_buffer(const std::string& name, Tensor value);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    children_.emplace_back(name, module);
    return module;
  }

 private:
  friend struct ModuleAccess;
  std::vector<std::pair<std::string, Variable>> params_, buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

}  // namespace sire::nn
