#include "models/spec.h"

#include <fstream>
#include <set>
#include <sstream>

#include "engine/error.h"

namespace sire::models {

std::string LayerSpec::where() const {
  return str(origin, ": layer '", name, "' (", type, ")");
}

namespace {

const char* kind_of(const json& v) {
  if (v.is_boolean()) return "a boolean";
  if (v.is_number_integer()) return "an integer";
  if (v.is_number()) return "a number";
  if (v.is_string()) return "a string";
  if (v.is_array()) return "a list";
  if (v.is_object()) return "an object";
  return "null";
}

// Integers a model file may hold: |v| < 2^31 (kMaxExtent).
bool in_range(const json& v) {
  if (v.is_number_unsigned()) return v.get<uint64_t>() <= static_cast<uint64_t>(kMaxExtent);
  const int64_t i = v.get<int64_t>();
  return i >= -kMaxExtent && i <= kMaxExtent;
}
constexpr const char* kRange = "(a model's integers lie within +-(2^31 - 1))";

}  // namespace

int64_t LayerSpec::get_int(const std::string& key) const {
  SIRE_CHECK(fields.contains(key), where(), ": missing field '", key, "'");
  const json& v = fields.at(key);
  SIRE_CHECK(v.is_number_integer(), where(), ": field '", key, "' must be an integer, got ",
             kind_of(v), " ", v.dump());
  SIRE_CHECK(in_range(v), where(), ": field '", key, "' = ", v.dump(), " is out of range ", kRange);
  return v.get<int64_t>();
}

int64_t LayerSpec::get_int(const std::string& key, int64_t fallback) const {
  return fields.contains(key) ? get_int(key) : fallback;
}

double LayerSpec::get_number(const std::string& key, double fallback) const {
  if (!fields.contains(key)) return fallback;
  const json& v = fields.at(key);
  SIRE_CHECK(v.is_number(), where(), ": field '", key, "' must be a number, got ", kind_of(v),
             " ", v.dump());
  return v.get<double>();
}

bool LayerSpec::get_bool(const std::string& key, bool fallback) const {
  if (!fields.contains(key)) return fallback;
  const json& v = fields.at(key);
  SIRE_CHECK(v.is_boolean(), where(), ": field '", key, "' must be true or false, got ",
             kind_of(v), " ", v.dump());
  return v.get<bool>();
}

std::string LayerSpec::get_string(const std::string& key, const std::string& fallback) const {
  if (!fields.contains(key)) return fallback;
  const json& v = fields.at(key);
  SIRE_CHECK(v.is_string(), where(), ": field '", key, "' must be a string, got ", kind_of(v),
             " ", v.dump());
  return v.get<std::string>();
}

std::vector<int64_t> LayerSpec::get_int_list(const std::string& key) const {
  SIRE_CHECK(fields.contains(key), where(), ": missing field '", key, "'");
  const json& v = fields.at(key);
  SIRE_CHECK(v.is_array(), where(), ": field '", key, "' must be a list of integers, got ",
             kind_of(v), " ", v.dump());
  std::vector<int64_t> out;
  for (const json& e : v) {
    SIRE_CHECK(e.is_number_integer(), where(), ": field '", key,
               "' must be a list of integers, got ", v.dump());
    SIRE_CHECK(in_range(e), where(), ": field '", key, "' holds ", e.dump(), ", out of range ",
               kRange);
    out.push_back(e.get<int64_t>());
  }
  return out;
}

namespace {

json read_json(const std::string& path) {
  std::ifstream in(path);
  SIRE_CHECK(in.good(), path, ": cannot open model file");
  std::stringstream ss;
  ss << in.rdbuf();
  try {
    return json::parse(ss.str());
  } catch (const json::parse_error& e) {
    // nlohmann's message carries "at line L, column C".
    std::string m = e.what();
    const auto at = m.find("parse error");
    SIRE_FAIL(path, ": malformed JSON: ", at == std::string::npos ? m : m.substr(at));
  }
}

std::string dir_of(const std::string& path) {
  const auto slash = path.find_last_of('/');
  return slash == std::string::npos ? "" : path.substr(0, slash + 1);
}

// Fields of `derived` replace those of `base`; "sire" and "outputs" are merged key by key.
json merge(json base, const json& derived) {
  for (auto it = derived.begin(); it != derived.end(); ++it) {
    if (it.key() == "base") continue;
    if ((it.key() == "sire" || it.key() == "outputs") && base.contains(it.key()) &&
        it.value().is_object() && base[it.key()].is_object()) {
      for (auto f = it.value().begin(); f != it.value().end(); ++f) base[it.key()][f.key()] = f.value();
    } else {
      base[it.key()] = it.value();
    }
  }
  return base;
}

json load_with_bases(const std::string& path, std::set<std::string>& seen) {
  SIRE_CHECK(seen.insert(path).second, path, ": \"base\" files include each other in a loop");
  json doc = read_json(path);
  SIRE_CHECK(doc.is_object(), path, ": a model file must hold a JSON object");
  if (!doc.contains("base")) return doc;
  SIRE_CHECK(doc["base"].is_string(), path, ": field 'base' must name a model file");
  // A relative base is found beside the file that names it; an absolute one where it says.
  const std::string base = doc["base"].get<std::string>();
  const std::string base_path = !base.empty() && base[0] == '/' ? base : dir_of(path) + base;
  return merge(load_with_bases(base_path, seen), doc);
}

Shape parse_shape(const json& v, const std::string& origin) {
  SIRE_CHECK(v.is_array() && v.size() == 3, origin,
             ": field 'input' must be [channels, height, width], got ", v.dump());
  Shape s;
  for (const json& e : v) {
    SIRE_CHECK(e.is_number_integer() && e.get<int64_t>() > 0 && in_range(e), origin,
               ": field 'input' must hold positive integers below 2^31, got ", v.dump());
    s.push_back(e.get<int64_t>());
  }
  return s;
}

const std::set<std::string> kTopLevel = {"name", "description", "input", "classes", "layers",
                                         "outputs", "sire", "defaults", "base"};

}  // namespace

namespace {

// An optional string field of `obj`; `what` names it in the error ("outputs.logits").
std::string optional_string(const json& obj, const char* key, const std::string& fallback,
                            const std::string& origin, const std::string& what) {
  if (!obj.contains(key)) return fallback;
  const json& v = obj[key];
  SIRE_CHECK(v.is_string(), origin, ": field '", what, "' must be a string, got ", kind_of(v), " ",
             v.dump());
  return v.get<std::string>();
}

}  // namespace

ModelSpec parse_model_spec(const json& doc, const std::string& origin) {
  ModelSpec m;
  m.file = origin;
  m.raw = doc;
  SIRE_CHECK(doc.is_object(), origin, ": a model file holds one JSON object, got ", kind_of(doc));
  for (auto it = doc.begin(); it != doc.end(); ++it)
    SIRE_CHECK(kTopLevel.count(it.key()), origin, ": unknown top-level field '", it.key(),
               "' (known: name, description, input, classes, layers, outputs, sire, defaults, base)");
  m.name = optional_string(doc, "name", origin, origin, "name");
  m.description = optional_string(doc, "description", "", origin, "description");
  SIRE_CHECK(doc.contains("input"), origin, ": missing field 'input' ([channels, height, width])");
  m.input = parse_shape(doc["input"], origin);
  SIRE_CHECK(doc.contains("classes") && doc["classes"].is_number_integer() &&
                 doc["classes"].get<int64_t>() > 0 && in_range(doc["classes"]),
             origin, ": field 'classes' must be a positive integer below 2^31");
  m.classes = doc["classes"].get<int64_t>();

  const json defaults = doc.value("defaults", json::object());
  SIRE_CHECK(defaults.is_object(), origin, ": field 'defaults' must map layer types to fields");
  SIRE_CHECK(doc.contains("layers") && doc["layers"].is_array() && !doc["layers"].empty(), origin,
             ": field 'layers' must be a non-empty list");
  std::set<std::string> names{"input"};
  int index = 0;
  for (const json& l : doc["layers"]) {
    ++index;
    SIRE_CHECK(l.is_object(), origin, ": layer ", index, " must be an object, got ", l.dump());
    LayerSpec s;
    s.origin = origin;
    SIRE_CHECK(l.contains("name") && l["name"].is_string() && !l["name"].get<std::string>().empty(),
               origin, ": layer ", index, " has no 'name'");
    s.name = l["name"].get<std::string>();
    SIRE_CHECK(l.contains("type") && l["type"].is_string(), origin, ": layer '", s.name,
               "' has no 'type'");
    s.type = l["type"].get<std::string>();
    SIRE_CHECK(names.insert(s.name).second, origin, ": layer name '", s.name, "' is used twice");
    if (defaults.contains(s.type)) {
      SIRE_CHECK(defaults[s.type].is_object(), origin, ": field 'defaults.", s.type,
                 "' must be an object of fields, got ", kind_of(defaults[s.type]));
      s.fields = defaults[s.type];
    }
    for (auto it = l.begin(); it != l.end(); ++it) {
      const std::string& k = it.key();
      if (k == "name" || k == "type") continue;
      if (k == "input" || k == "inputs") {
        const json& v = it.value();
        if (v.is_string()) {
          s.inputs.push_back(v.get<std::string>());
        } else {
          SIRE_CHECK(v.is_array(), s.where(), ": field '", k, "' must name a layer or list layers");
          for (const json& e : v) {
            SIRE_CHECK(e.is_string(), s.where(), ": field '", k, "' must list layer names");
            s.inputs.push_back(e.get<std::string>());
          }
        }
        continue;
      }
      s.fields[k] = it.value();
    }
    if (s.inputs.empty()) s.inputs.push_back(m.layers.empty() ? "input" : m.layers.back().name);
    m.layers.push_back(std::move(s));
  }

  const json outputs = doc.value("outputs", json::object());
  SIRE_CHECK(outputs.is_object(), origin, ": field 'outputs' must be an object");
  m.logits = optional_string(outputs, "logits", m.layers.back().name, origin, "outputs.logits");
  if (outputs.contains("aux")) {
    SIRE_CHECK(outputs["aux"].is_array(), origin, ": outputs.aux must be a list");
    for (const json& a : outputs["aux"]) {
      SIRE_CHECK(a.is_object() && a.contains("layer") && a["layer"].is_string(), origin,
                 ": outputs.aux entries need a 'layer'");
      SIRE_CHECK(!a.contains("weight") || a["weight"].is_number(), origin,
                 ": outputs.aux weights must be numbers, got ", a.dump());
      m.aux.push_back({a["layer"].get<std::string>(), a.value("weight", 0.3)});
    }
  }

  if (outputs.contains("reconstructions")) {
    SIRE_CHECK(outputs["reconstructions"].is_array(), origin,
               ": outputs.reconstructions must list layer names");
    for (const json& r : outputs["reconstructions"]) {
      SIRE_CHECK(r.is_string(), origin, ": outputs.reconstructions must list layer names");
      m.reconstructions.push_back(r.get<std::string>());
    }
    if (outputs.contains("lambda")) {
      SIRE_CHECK(outputs["lambda"].is_number() && outputs["lambda"].get<double>() >= 0, origin,
                 ": outputs.lambda must be a non-negative number");
      m.sire.lambda = outputs["lambda"].get<double>();
    }
  }

  if (doc.contains("sire")) {
    const json& s = doc["sire"];
    SIRE_CHECK(s.is_object(), origin, ": field 'sire' must be an object");
    static const std::set<std::string> known = {"autoencoders", "skips", "residual", "lambda",
                                                "decoder_init"};
    for (auto it = s.begin(); it != s.end(); ++it)
      SIRE_CHECK(known.count(it.key()), origin, ": unknown field 'sire.", it.key(),
                 "' (known: autoencoders, skips, residual, lambda, decoder_init)");
    m.sire.enabled = true;
    if (s.contains("autoencoders")) {
      SIRE_CHECK(s["autoencoders"].is_array(), origin, ": sire.autoencoders must be a list of "
                 "1-based downsampling points, e.g. [1, 2, 3, 4]");
      for (const json& e : s["autoencoders"]) {
        SIRE_CHECK(e.is_number_integer() && in_range(e) && e.get<int>() >= 1, origin,
                   ": sire.autoencoders must hold positive integers, got ",
                   s["autoencoders"].dump());
        m.sire.autoencoders.push_back(e.get<int>());
      }
    }
    auto flag = [&](const char* k, bool fallback) {
      if (!s.contains(k)) return fallback;
      SIRE_CHECK(s[k].is_boolean(), origin, ": sire.", k, " must be true or false");
      return s[k].get<bool>();
    };
    m.sire.skips = flag("skips", false);
    m.sire.residual = flag("residual", false);
    if (s.contains("lambda")) {
      SIRE_CHECK(s["lambda"].is_number() && s["lambda"].get<double>() >= 0, origin,
                 ": sire.lambda must be a non-negative number");
      m.sire.lambda = s["lambda"].get<double>();
    }
    m.sire.decoder_init = optional_string(s, "decoder_init", "fan_in", origin, "sire.decoder_init");
    SIRE_CHECK(m.sire.decoder_init == "fan_in" || m.sire.decoder_init == "pytorch", origin,
               ": sire.decoder_init must be \"fan_in\" or \"pytorch\", got \"",
               m.sire.decoder_init, "\"");
  }
  return m;
}

ModelSpec load_model_spec(const std::string& path) {
  std::set<std::string> seen;
  return parse_model_spec(load_with_bases(path, seen), path);
}

}  // namespace sire::models
