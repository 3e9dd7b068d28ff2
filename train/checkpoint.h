// Checkpoints: one safetensors file, written atomically, holding the model's parameters and
// buffers under their model names (so the file loads as a plain state dict elsewhere), the
// optimizer's momentum buffers under "optimizer.<name>.momentum_buffer", and in its metadata
// the model description (so `sire eval` needs nothing but the file), the data transform and
// the training progress.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "engine/io/safetensors.h"
#include "engine/optim/sgd.h"
#include "models/model.h"

namespace sire::train {

using json = nlohmann::json;

// What rebuilds a model from a checkpoint: the merged model file and the build options.
json model_metadata(const models::Model& model);
models::Model model_from_metadata(const json& meta, const std::string& origin);

// Writes params + buffers (+ optimizer state when `sgd` is given) and metadata entries
// ("sire.model", and whatever `extra` holds, each a JSON document) atomically to `path`.
void save_checkpoint(const std::string& path, models::Model& model, optim::Sgd* sgd,
                     const std::map<std::string, json>& extra);

struct Checkpoint {
  io::TensorFile file;
  json model;                          // "sire.model"
  std::map<std::string, json> extra;   // every other "sire.*" metadata entry, parsed
};
Checkpoint read_checkpoint(const std::string& path);

// Copies the file's tensors into the model; every parameter and buffer must be there with its
// shape (the error lists what is missing or mismatched).
void load_model_state(models::Model& model, const io::TensorFile& file);
void load_optimizer_state(optim::Sgd& sgd, const models::Model& model, const io::TensorFile& file);

}  // namespace sire::train
