// The registry of layer types that model files may use. A type knows its fields, how many
// inputs it takes, its output shape, how to build its module, and (for the SIRe transform) how
// to invert it into decoder layers. An unknown type name is an error that lists the known ones.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/autograd/variable.h"
#include "engine/nn/layers.h"
#include "engine/nn/module.h"
#include "models/spec.h"

namespace sire::models {

struct BuildContext {
  int64_t classes = 0;
};

// A module that takes several inputs (add, concat, shortcut). Single-input modules are plain
// nn::Modules and run through forward().
class MultiInput {
 public:
  virtual ~MultiInput() = default;
  virtual Variable forward_inputs(const std::vector<Variable>& inputs) = 0;
};

// What the SIRe transform asks of a layer on the path to a downsampling point.
struct InvertRequest {
  const LayerSpec* layer;
  Shape in, out;             // the encoder layer's input and output shapes (no batch)
  std::string input;         // decoder tensor that the inverse reads (shaped like `out`)
  std::string prefix;        // names of generated layers start with it, e.g. "ae2."
  bool last = false;         // the inverse produces the reconstruction: end without BN or ReLU
  bool tail_bn = false;      // the encoder unit had a batch norm after this layer...
  bool tail_relu = false;    // ...and a ReLU
  std::string decoder_init;  // "fan_in" or "pytorch", for generated transposed convolutions
};

enum class Role {
  kUnitHead,    // conv-like: starts a unit; its unit's output is a long-skip source
  kUnitTail,    // batchnorm, relu, dropout, shortcut: belongs to the unit before it
  kDownsample,  // max-pool: inverted by an upsample to the exact pre-pool size
  kOther,       // not invertible (head layers, decoder layers)
};

struct LayerType {
  std::string name;
  std::string summary;
  std::vector<std::string> fields;  // accepted fields (besides name, type, input)
  int min_inputs = 1, max_inputs = 1;
  Role role = Role::kOther;
  std::function<Shape(const LayerSpec&, const std::vector<Shape>&, const BuildContext&)> infer;
  std::function<std::shared_ptr<nn::Module>(const LayerSpec&, const std::vector<Shape>&,
                                            const BuildContext&)>
      build;
  std::function<std::vector<LayerSpec>(const InvertRequest&)> invert;  // may be empty
};

void register_layer_type(LayerType type);
// Throws, naming the layer and listing the known types, when `spec.type` is unknown.
const LayerType& layer_type_of(const LayerSpec& spec);
std::vector<std::string> layer_type_names();

// Checks that `spec` uses only the type's fields and has an allowed number of inputs.
void validate_layer(const LayerSpec& spec, const LayerType& type);

// Helpers for type definitions.
LayerSpec make_layer(const std::string& name, const std::string& type,
                     std::vector<std::string> inputs, json fields);
int64_t resolve_count(const LayerSpec& s, const std::string& key, const BuildContext& ctx);
nn::TransposedFanIn fan_in_rule(const std::string& decoder_init);

// Registration of the built-in families (called once by the registry).
void register_basic_layers();
void register_resnet_layers();
void register_inception_layers();

}  // namespace sire::models
