// A model description as read from JSON, before anything is built: named layers with a type,
// their inputs (by name) and their fields; the model's input shape, classes, outputs and the
// optional "sire" section. Every accessor that reads a field checks it and, when it is missing
// or of the wrong type, throws an error naming the file, the layer and the field.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "engine/shape.h"

namespace sire::models {

using json = nlohmann::json;

// The largest integer a model file may give (a field, an input extent, a class count), and the
// largest extent a layer's output may have: 2^31 - 1, so that shape arithmetic stays in int64.
constexpr int64_t kMaxExtent = 0x7fffffff;

struct LayerSpec {
  std::string name;
  std::string type;
  std::vector<std::string> inputs;  // empty in the file means: the previous layer
  json fields = json::object();     // everything but name, type and input(s)
  std::string origin;               // file the layer came from ("F (sire transform)": made for F)

  // "models/x.json: layer 'conv3' (conv)"
  std::string where() const;

  bool has(const std::string& key) const { return fields.contains(key); }
  int64_t get_int(const std::string& key) const;
  int64_t get_int(const std::string& key, int64_t fallback) const;
  double get_number(const std::string& key, double fallback) const;
  bool get_bool(const std::string& key, bool fallback) const;
  std::string get_string(const std::string& key, const std::string& fallback) const;
  std::vector<int64_t> get_int_list(const std::string& key) const;
};

struct SireOptions {
  bool enabled = false;             // a "sire" section is present
  std::vector<int> autoencoders;    // 1-based indices of the downsampling points that get an AE
  bool skips = false;               // long skips from encoder to decoder
  bool residual = false;            // turns on the backbone's optional shortcuts
  double lambda = 0.2;              // weight of the sum of reconstruction MSEs
  std::string decoder_init = "fan_in";  // "fan_in" (in_channels k k) or "pytorch" (see docs/sire.md)
};

struct AuxOutput {
  std::string layer;
  double weight = 0.3;
};

struct ModelSpec {
  std::string name;
  std::string file;
  std::string description;
  Shape input;                      // [C, H, W]
  int64_t classes = 0;
  std::vector<LayerSpec> layers;
  std::string logits;               // layer giving the logits
  std::vector<AuxOutput> aux;       // auxiliary classifiers (GoogLeNet)
  // Decoders written out in the file (what `sire info --spec` prints): their last layers, and
  // the reconstruction loss weight (sire.lambda) under outputs.lambda.
  std::vector<std::string> reconstructions;
  SireOptions sire;
  json raw;                         // the merged document
};

// Reads a model file; a "base" field names another model file (relative to this one) whose
// fields this one overrides. Malformed JSON reports its line and column.
ModelSpec load_model_spec(const std::string& path);
ModelSpec parse_model_spec(const json& doc, const std::string& origin);

}  // namespace sire::models
