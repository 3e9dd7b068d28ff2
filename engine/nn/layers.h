// The layers. Each holds its parameters as public Variables (conv.weight, conv.bias) and is
// initialized as PyTorch initializes the layer of the same name.
#pragma once

#include <memory>
#include <vector>

#include "engine/nn/module.h"

namespace sire::nn {

class Conv2d : public Module {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel, int64_t stride = 1,
         int64_t padding = 0, bool bias = true);
  Variable forward(const Variable& x) override;
  std::string describe() const override;

  Variable weight, bias;  // [out, in, k, k], [out] (undefined without bias)
  int64_t in_channels, out_channels, kernel, stride, padding;
};

// How a transposed convolution's default init computes its fan-in. PyTorch takes it from the
// weight's dimension 1, which for ConvTranspose2d is the *output* channels; the fan-in the layer
// really has (the values each output sums) is in_channels * k * k. See docs/sire.md.
enum class TransposedFanIn { kPyTorch, kInputChannels };

class ConvTranspose2d : public Module {
 public:
  ConvTranspose2d(int64_t in_channels, int64_t out_channels, int64_t kernel, int64_t stride = 1,
                  int64_t padding = 0, int64_t output_padding = 0, bool bias = true,
                  TransposedFanIn fan_in = TransposedFanIn::kPyTorch);
  Variable forward(const Variable& x) override;
  std::string describe() const override;

  Variable weight, bias;  // [in, out, k, k] (PyTorch's layout), [out]
  int64_t in_channels, out_channels, kernel, stride, padding, output_padding;
};

class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true);
  Variable forward(const Variable& x) override;
  std::string describe() const override;

  Variable weight, bias;  // [out, in], [out]
  int64_t in_features, out_features;
};

class BatchNorm2d : public Module {
 public:
  explicit BatchNorm2d(int64_t channels, double eps = 1e-5, double momentum = 0.1);
  Variable forward(const Variable& x) override;
  // forward(x) + add in one pass; needs fused_relu (a graph folds a batch norm + ReLU into the
  // sum that consumes it).
  Variable forward_add(const Variable& x, const Variable& add);
  // max(0, forward(x) + add) in one pass, forward being the plain batch norm (a graph folds a
  // residual sum and its ReLU into the batch norm).
  Variable forward_add_relu(const Variable& x, const Variable& add);
  std::string describe() const override;

  Variable weight, bias;                     // gamma = 1, beta = 0
  Variable running_mean, running_var;        // buffers: 0 and 1
  int64_t channels;
  double eps, momentum;
  bool fused_relu = false;  // set by a graph whose next layer is a ReLU: max(0, bn(x)) in one op
};

class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5) : p(p) {}
  // Each training forward draws a fresh mask stream from the default generator.
  Variable forward(const Variable& x) override;
  std::string describe() const override;
  double p;
};

class ReLU : public Module {
 public:
  Variable forward(const Variable& x) override;
  std::string describe() const override { return "ReLU()"; }
};

class MaxPool2d : public Module {
 public:
  MaxPool2d(int64_t kernel, int64_t stride, int64_t padding = 0, bool ceil_mode = false)
      : kernel(kernel), stride(stride), padding(padding), ceil_mode(ceil_mode) {}
  Variable forward(const Variable& x) override;
  std::string describe() const override;
  int64_t kernel, stride, padding;
  bool ceil_mode;
};

// Nearest-neighbour upsampling by an integer scale, or to a fixed size when out_h > 0.
class Upsample : public Module {
 public:
  explicit Upsample(int64_t scale) : scale(scale) {}
  Upsample(int64_t out_h, int64_t out_w) : scale(0), out_h(out_h), out_w(out_w) {}
  Variable forward(const Variable& x) override;
  // forward(x) + add in one pass (a graph folds an upsample into the sum that consumes it).
  Variable forward_add(const Variable& x, const Variable& add);
  std::string describe() const override;
  int64_t scale, out_h = 0, out_w = 0;
};

class AdaptiveAvgPool2d : public Module {
 public:
  AdaptiveAvgPool2d(int64_t out_h, int64_t out_w) : out_h(out_h), out_w(out_w) {}
  Variable forward(const Variable& x) override;
  std::string describe() const override;
  int64_t out_h, out_w;
};

class Flatten : public Module {
 public:
  Variable forward(const Variable& x) override;
  std::string describe() const override { return "Flatten()"; }
};

// Runs its children in order; they are named "0", "1", ... unless named explicitly.
class Sequential : public Module {
 public:
  Sequential() = default;
  explicit Sequential(std::vector<std::shared_ptr<Module>> layers);
  void add(std::shared_ptr<Module> layer, const std::string& name = "");
  Variable forward(const Variable& x) override;
  std::string describe() const override;
  size_t size() const { return children().size(); }
};

}  // namespace sire::nn
