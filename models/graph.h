// A model as a graph of named layers wired by name (a DAG), built from LayerSpecs: checked
// (types, fields, inputs that exist, no cycles), ordered, shape-inferred, then instantiated.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/nn/module.h"
#include "models/layer_type.h"

namespace sire::models {

// Order and shapes of a list of layers, without building anything (the SIRe transform plans
// the backbone this way before adding decoders).
struct GraphPlan {
  std::vector<LayerSpec> layers;     // in a topological order
  std::vector<std::vector<int>> inputs;  // per layer: indices of its inputs (-1 = model input)
  std::vector<Shape> shapes;         // per layer: output shape without the batch dimension
  std::map<std::string, int> index;  // name -> position
  const LayerSpec& layer(const std::string& name) const;
  const Shape& shape_of(const std::string& name, const Shape& input) const;
};

GraphPlan plan_graph(std::vector<LayerSpec> layers, const Shape& input, const BuildContext& ctx);

class GraphModel : public nn::Module {
 public:
  GraphModel(GraphPlan plan, Shape input, const BuildContext& ctx);

  // Runs the layers that the `wanted` outputs depend on (and no others) on x [N, C, H, W].
  std::vector<Variable> run(const Variable& x, const std::vector<int>& wanted);
  Variable forward(const Variable& x) override;  // the last layer's output
  std::string describe() const override;

  const GraphPlan& plan() const { return plan_; }
  const Shape& input_shape() const { return input_; }
  int index_of(const std::string& name) const;
  // Trainable parameters of layer i.
  int64_t layer_parameters(int i) const { return modules_[i]->parameter_count(); }

 private:
  // A batch norm whose only consumer is a ReLU computes max(0, bn(x)) itself (one pass each
  // way instead of two); the ReLU layer then passes its input through.
  void fuse_batchnorm_relu();

  GraphPlan plan_;
  Shape input_;
  std::vector<std::shared_ptr<nn::Module>> modules_;
  std::vector<char> passthrough_, fused_;
};

}  // namespace sire::models
