#include "train/checkpoint.h"

namespace sire::train {

json model_metadata(const models::Model& m) {
  const models::ModelSpec& s = m.spec();
  return {{"spec", s.raw},
          {"file", s.file},
          {"classes", s.classes},
          {"input", std::vector<int64_t>(s.input.begin(), s.input.end())},
          {"lambda", s.sire.lambda},
          {"decoder_init", s.sire.decoder_init}};
}

models::Model model_from_metadata(const json& meta, const std::string& origin) {
  return with_context(origin, [&] {
    models::ModelSpec spec = models::parse_model_spec(meta.at("spec"), origin);
    models::ModelOptions o;
    o.classes = meta.at("classes").get<int64_t>();
    o.input = Shape(meta.at("input").get<std::vector<int64_t>>());
    o.lambda = meta.at("lambda").get<double>();
    o.decoder_init = meta.at("decoder_init").get<std::string>();
    return models::Model::from_spec(spec, o);
  });
}

void save_checkpoint(const std::string& path, models::Model& model, optim::Sgd* sgd,
                     const std::map<std::string, json>& extra) {
  std::vector<std::pair<std::string, Tensor>> tensors;
  const auto params = model.net().named_parameters();
  for (auto& [name, v] : params) tensors.emplace_back(name, v.data());
  for (auto& [name, v] : model.net().named_buffers()) tensors.emplace_back(name, v.data());
  if (sgd) {
    // The optimizer holds the parameters in the model's order (see Trainer).
    for (size_t i = 0; i < params.size(); ++i)
      if (sgd->momentum_buffers()[i].defined())
        tensors.emplace_back("optimizer." + params[i].first + ".momentum_buffer",
                             sgd->momentum_buffers()[i]);
  }
  std::map<std::string, std::string> meta{{"format", "pt"}, {"sire.model", model_metadata(model).dump()}};
  for (auto& [k, v] : extra) meta["sire." + k] = v.dump();
  io::save_safetensors(path, tensors, meta);
}

Checkpoint read_checkpoint(const std::string& path) {
  Checkpoint c;
  c.file = io::load_safetensors(path);
  SIRE_CHECK(c.file.metadata.count("sire.model"), path,
             ": not a sire checkpoint (its metadata has no sire.model)");
  try {
    for (auto& [k, v] : c.file.metadata) {
      if (k.rfind("sire.", 0) != 0) continue;
      json j = json::parse(v);
      if (k == "sire.model") {
        c.model = j;
      } else {
        c.extra[k.substr(5)] = j;
      }
    }
  } catch (const json::parse_error& e) {
    SIRE_FAIL(path, ": corrupt metadata (", e.what(), ")");
  }
  return c;
}

void load_model_state(models::Model& model, const io::TensorFile& file) {
  std::string problems;
  auto load = [&](const std::string& name, Variable& v) {
    if (!file.has(name)) {
      problems += "\n  missing: " + name;
      return;
    }
    const Tensor& t = file.get(name);
    if (t.shape() != v.shape() || t.dtype() != v.dtype()) {
      problems += str("\n  ", name, ": file has ", t.describe(), ", model has ", v.data().describe());
      return;
    }
    v.data().copy_from(t.to(v.device()));
  };
  for (auto& [name, v] : model.net().named_parameters()) load(name, v);
  for (auto& [name, v] : model.net().named_buffers()) load(name, v);
  SIRE_CHECK(problems.empty(), file.path, ": does not fit the model ", model.spec().name, ":", problems);
}

void load_optimizer_state(optim::Sgd& sgd, const models::Model& model, const io::TensorFile& file) {
  const auto params = model.net().named_parameters();
  SIRE_CHECK(params.size() == sgd.momentum_buffers().size(), "optimizer and model disagree");
  for (size_t i = 0; i < params.size(); ++i) {
    const std::string key = "optimizer." + params[i].first + ".momentum_buffer";
    if (!file.has(key)) {
      sgd.momentum_buffers()[i] = Tensor();
      continue;
    }
    const Tensor& t = file.get(key);
    SIRE_CHECK(t.shape() == params[i].second.shape(), file.path, ": ", key, " has shape ",
               t.shape(), ", the parameter ", params[i].second.shape());
    sgd.momentum_buffers()[i] = t.to(params[i].second.device()).clone();
  }
}

}  // namespace sire::train
