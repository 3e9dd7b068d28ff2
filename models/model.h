// A model ready to train: the graph built from a model file (with the SIRe transform applied),
// which layers give the logits, the auxiliary logits and the reconstructions, and the loss
//   L = CE(logits) + sum_aux w CE(aux) + lambda sum_AE MSE(reconstruction, input)
// (paper eq. 1; GoogLeNet's auxiliary classifiers enter with their original weight 0.3).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "models/graph.h"
#include "models/sire_transform.h"
#include "models/spec.h"

namespace sire::models {

struct ModelOptions {
  std::optional<int64_t> classes;            // default: the file's
  std::optional<Shape> input;                // [C, H, W]; default: the file's
  std::optional<double> lambda;              // default: the file's sire.lambda
  std::optional<std::string> decoder_init;   // "fan_in" or "pytorch"
};

struct ModelOutput {
  Variable logits;
  std::vector<Variable> aux;              // auxiliary classifiers' logits
  std::vector<Variable> reconstructions;  // one per auto-encoder, shaped like the input
};

// The parts are one-element tensors on the model's device, not numbers: reading one on a GPU
// waits for every kernel before it, so a training step reads them all together, once, and
// `sire time` not at all (train/trainer.cpp).
struct LossParts {
  Variable total;
  Tensor ce;                   // main classifier
  std::vector<Tensor> aux_ce;  // each auxiliary classifier
  std::vector<Tensor> mse;     // each auto-encoder
};

class Model {
 public:
  static Model load(const std::string& path, const ModelOptions& options = {});
  static Model from_spec(ModelSpec spec, const ModelOptions& options = {});

  // Training mode computes every output; with `logits_only` (evaluation) the decoders and
  // auxiliary classifiers are not run at all.
  ModelOutput forward(const Variable& x, bool logits_only = false);
  LossParts loss(const ModelOutput& out, const Variable& x, const Tensor& labels) const;

  GraphModel& net() { return *net_; }
  const GraphModel& net() const { return *net_; }
  std::shared_ptr<GraphModel> net_ptr() const { return net_; }
  const ModelSpec& spec() const { return spec_; }
  const Shape& input_shape() const { return spec_.input; }
  int64_t classes() const { return spec_.classes; }
  double lambda() const { return spec_.sire.lambda; }
  const std::vector<int>& autoencoders() const { return sire_.autoencoders; }
  const std::vector<std::string>& reconstruction_layers() const { return sire_.reconstructions; }
  int64_t parameter_count() const { return net_->parameter_count(); }

  // `sire info`: one row per layer (name, type, output shape, parameters) and the total.
  std::string table() const;
  json info_json() const;
  // The model as a model file: every layer (the decoders the SIRe transform built included, the
  // optional shortcuts resolved) with all its fields. Loading it gives the same network.
  json spec_json() const;

 private:
  ModelSpec spec_;
  SireNetwork sire_;
  std::shared_ptr<GraphModel> net_;
  int logits_ = -1;
  std::vector<int> aux_, recon_;
};

}  // namespace sire::models
