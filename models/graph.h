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
  nn::Module& module(int i) { return *modules_[i]; }
  // Trainable parameters of layer i.
  int64_t layer_parameters(int i) const { return modules_[i]->parameter_count(); }
  // The sums that compute one of their inputs themselves (fold_into_sums), as "input -> sum".
  std::vector<std::string> folded_sums() const;
  // The layer whose op computes layer i's work (a batch norm applying its ReLU, a sum computing
  // its folded inputs), or -1 when layer i runs its own.
  int computed_in(int i) const { return host_[i]; }

 private:
  // A batch norm whose only consumer is a ReLU computes max(0, bn(x)) itself (one pass each
  // way instead of two); the ReLU layer then passes its input through.
  void fuse_batchnorm_relu();
  // A sum of two inputs, one of which is an upsample or a batch norm + ReLU that nothing else
  // consumes, computes that input itself: upsample(x) + s or max(0, bn(x)) + s in one pass, the
  // intermediate never written (SIRe's skip connections: one full tensor written and read less
  // each). Likewise a ReLU of such a sum of a batch norm and s (a residual): max(0, bn(x) + s).
  // The folded layers are skipped in their place.
  void fold_into_sums();
  // What a layer computes of the folded layers before it (Fold::kind kNone: nothing).
  struct Fold {
    enum Kind { kNone, kUpsampleAdd, kBnReluAdd, kBnAddRelu } kind = kNone;
    int folded = -1;    // the consumer's input that it computes itself
    int producer = -1;  // the layer whose module runs: the upsample or the batch norm
    int other = -1;     // the tensor added
  };

  GraphPlan plan_;
  Shape input_;
  std::vector<std::shared_ptr<nn::Module>> modules_;
  std::vector<char> passthrough_, fused_;
  std::vector<Fold> folds_;     // per layer
  std::vector<char> deferred_;  // per layer: computed by the layer it is folded into
  std::vector<int> host_;       // per layer: computed_in()
};

}  // namespace sire::models
