#include "models/layer_type.h"

#include <algorithm>
#include <map>
#include <mutex>

namespace sire::models {
namespace {

std::map<std::string, LayerType>& table() {
  static std::map<std::string, LayerType> t;
  return t;
}

void ensure_builtins() {
  static std::once_flag once;
  std::call_once(once, [] {
    register_basic_layers();
    register_resnet_layers();
    register_inception_layers();
  });
}

}  // namespace

void register_layer_type(LayerType type) { table()[type.name] = std::move(type); }

std::vector<std::string> layer_type_names() {
  ensure_builtins();
  std::vector<std::string> names;
  for (auto& [n, t] : table()) names.push_back(n);
  return names;
}

const LayerType& layer_type_of(const LayerSpec& spec) {
  ensure_builtins();
  auto it = table().find(spec.type);
  if (it == table().end()) {
    std::string known;
    for (auto& n : layer_type_names()) known += (known.empty() ? "" : ", ") + n;
    SIRE_FAIL(spec.origin, ": layer '", spec.name, "' has unknown type '", spec.type,
              "' (known types: ", known, ")");
  }
  return it->second;
}

void validate_layer(const LayerSpec& spec, const LayerType& type) {
  for (auto it = spec.fields.begin(); it != spec.fields.end(); ++it) {
    if (std::find(type.fields.begin(), type.fields.end(), it.key()) != type.fields.end()) continue;
    std::string known;
    for (auto& f : type.fields) known += (known.empty() ? "" : ", ") + f;
    SIRE_FAIL(spec.where(), ": unknown field '", it.key(), "' (fields of ", type.name, ": ",
              known.empty() ? "none" : known, ")");
  }
  const int n = static_cast<int>(spec.inputs.size());
  SIRE_CHECK(n >= type.min_inputs && n <= type.max_inputs, spec.where(), ": takes ",
             type.min_inputs == type.max_inputs ? std::to_string(type.min_inputs)
                                                : str(type.min_inputs, " to ", type.max_inputs),
             " input(s), got ", n);
}

LayerSpec make_layer(const std::string& name, const std::string& type,
                     std::vector<std::string> inputs, json fields) {
  LayerSpec s;
  s.name = name;
  s.type = type;
  s.inputs = std::move(inputs);
  s.fields = std::move(fields);
  s.origin = "sire transform";
  return s;
}

int64_t resolve_count(const LayerSpec& s, const std::string& key, const BuildContext& ctx) {
  if (s.has(key) && s.fields.at(key).is_string()) {
    SIRE_CHECK(s.fields.at(key).get<std::string>() == "classes", s.where(), ": field '", key,
               "' must be an integer or \"classes\"");
    return ctx.classes;
  }
  const int64_t v = s.get_int(key);
  SIRE_CHECK(v > 0, s.where(), ": field '", key, "' must be positive, got ", v);
  return v;
}

nn::TransposedFanIn fan_in_rule(const std::string& decoder_init) {
  return decoder_init == "pytorch" ? nn::TransposedFanIn::kPyTorch
                                   : nn::TransposedFanIn::kInputChannels;
}

}  // namespace sire::models
