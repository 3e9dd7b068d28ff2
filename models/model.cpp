#include "models/model.h"

#include <algorithm>
#include <cstdlib>
#include <iomanip>
#include <sstream>

#include "engine/ops.h"

namespace sire::models {

// Every error about the file names it (one raised while building a layer names the layer too:
// graph.cpp); one about `options` does not blame the file.
Model Model::load(const std::string& path, const ModelOptions& options) {
  return from_spec(with_context(path, [&] { return load_model_spec(path); }), options);
}

Model Model::from_spec(ModelSpec spec, const ModelOptions& o) {
  if (o.classes) {
    SIRE_CHECK(*o.classes > 0 && *o.classes <= kMaxExtent,
               "classes must be positive and below 2^31, got ", *o.classes);
    spec.classes = *o.classes;
  }
  if (o.input) {
    SIRE_CHECK(
        o.input->size() == 3 && std::all_of(o.input->begin(), o.input->end(),
                                            [](int64_t d) { return d > 0 && d <= kMaxExtent; }),
        "input must be C,H,W with positive extents below 2^31, got ", *o.input);
    spec.input = *o.input;
  }
  if (o.lambda) spec.sire.lambda = *o.lambda;
  if (o.decoder_init) {
    SIRE_CHECK(*o.decoder_init == "fan_in" || *o.decoder_init == "pytorch",
               "decoder init must be fan_in or pytorch, got '", *o.decoder_init, "'");
    spec.sire.decoder_init = *o.decoder_init;
  }
  Model m;
  BuildContext ctx{spec.classes};
  m.sire_ = apply_sire(spec, ctx);
  if (!spec.reconstructions.empty()) {  // a file whose decoders are written out (sire info --spec)
    SIRE_CHECK(!spec.sire.enabled, spec.file, ": give either a \"sire\" section or "
               "outputs.reconstructions, not both");
    m.sire_.reconstructions = spec.reconstructions;
    for (size_t i = 0; i < spec.reconstructions.size(); ++i) {
      const std::string& r = spec.reconstructions[i];
      // The transform names decoder layers "ae<k>.<layer>_t": "ae3.conv1a_t" is auto-encoder 3.
      const int named = r.rfind("ae", 0) == 0 ? std::atoi(r.c_str() + 2) : 0;
      m.sire_.autoencoders.push_back(named > 0 ? named : static_cast<int>(i) + 1);
    }
  }
  GraphPlan plan = plan_graph(m.sire_.layers, spec.input, ctx);
  m.spec_ = std::move(spec);
  m.net_ = std::make_shared<GraphModel>(std::move(plan), m.spec_.input, ctx);

  const GraphPlan& p = m.net_->plan();
  auto find = [&](const std::string& name, const char* what) {
    auto it = p.index.find(name);
    SIRE_CHECK(it != p.index.end(), m.spec_.file, ": outputs.", what, " names layer '", name,
               "', which does not exist");
    return it->second;
  };
  m.logits_ = find(m.spec_.logits, "logits");
  SIRE_CHECK(p.shapes[m.logits_] == Shape{m.spec_.classes}, m.spec_.file, ": the logits layer '",
             m.spec_.logits, "' gives ", p.shapes[m.logits_], " but the model has ",
             m.spec_.classes, " classes");
  for (const AuxOutput& a : m.spec_.aux) {
    m.aux_.push_back(find(a.layer, "aux"));
    SIRE_CHECK(p.shapes[m.aux_.back()] == Shape{m.spec_.classes}, m.spec_.file,
               ": the auxiliary classifier '", a.layer, "' gives ", p.shapes[m.aux_.back()]);
  }
  for (const std::string& r : m.sire_.reconstructions) {
    m.recon_.push_back(p.index.at(r));
    SIRE_CHECK(p.shapes[m.recon_.back()] == m.spec_.input, "the SIRe transform's decoder ending in '",
               r, "' gives ", p.shapes[m.recon_.back()], " instead of the input shape ", m.spec_.input);
  }
  return m;
}

ModelOutput Model::forward(const Variable& x, bool logits_only) {
  std::vector<int> wanted{logits_};
  if (!logits_only) {
    wanted.insert(wanted.end(), aux_.begin(), aux_.end());
    wanted.insert(wanted.end(), recon_.begin(), recon_.end());
  }
  std::vector<Variable> outs = net_->run(x, wanted);
  ModelOutput o;
  o.logits = outs[0];
  if (!logits_only) {
    o.aux.assign(outs.begin() + 1, outs.begin() + 1 + aux_.size());
    o.reconstructions.assign(outs.begin() + 1 + aux_.size(), outs.end());
  }
  return o;
}

LossParts Model::loss(const ModelOutput& out, const Variable& x, const Tensor& labels) const {
  LossParts parts;
  Variable total = ops::cross_entropy(out.logits, labels);
  parts.ce = total.data();
  for (size_t i = 0; i < out.aux.size(); ++i) {
    Variable a = ops::cross_entropy(out.aux[i], labels);
    parts.aux_ce.push_back(a.data());
    total = ops::add(total, ops::scale(a, spec_.aux[i].weight));
  }
  if (!out.reconstructions.empty()) {
    // The reconstruction target is the tensor the network was fed; it needs no gradient.
    const Variable target = x.detach();
    Variable sum;
    for (const Variable& r : out.reconstructions) {
      Variable m = ops::mse_loss(r, target);
      parts.mse.push_back(m.data());
      sum = sum.defined() ? ops::add(sum, m) : m;
    }
    total = ops::add(total, ops::scale(sum, spec_.sire.lambda));
  }
  parts.total = total;
  return parts;
}

std::string Model::table() const {
  const GraphPlan& p = net_->plan();
  size_t wn = 5, wt = 4;
  for (const LayerSpec& l : p.layers) {
    wn = std::max(wn, l.name.size());
    wt = std::max(wt, l.type.size());
  }
  std::ostringstream os;
  os << std::left << std::setw(wn + 2) << "layer" << std::setw(wt + 2) << "type"
     << std::setw(22) << "output" << std::right << std::setw(14) << "parameters" << "\n";
  for (size_t i = 0; i < p.layers.size(); ++i) {
    os << std::left << std::setw(wn + 2) << p.layers[i].name << std::setw(wt + 2)
       << p.layers[i].type << std::setw(22) << to_string(p.shapes[i]) << std::right
       << std::setw(14) << net_->layer_parameters(static_cast<int>(i)) << "\n";
  }
  os << "total trainable parameters: " << parameter_count() << "\n";
  return os.str();
}

json Model::spec_json() const {
  json layers = json::array();
  for (const LayerSpec& l : sire_.layers) {
    json j = {{"name", l.name}, {"type", l.type}};
    j["inputs"] = l.inputs;
    for (auto it = l.fields.begin(); it != l.fields.end(); ++it) j[it.key()] = it.value();
    if (l.type == "shortcut") j.erase("optional");  // kept by the transform: no longer optional
    layers.push_back(j);
  }
  json outputs = {{"logits", spec_.logits}};
  if (!spec_.aux.empty()) {
    outputs["aux"] = json::array();
    for (const AuxOutput& a : spec_.aux) outputs["aux"].push_back({{"layer", a.layer}, {"weight", a.weight}});
  }
  json doc = {{"name", spec_.name},
              {"description", spec_.description},
              {"input", std::vector<int64_t>(spec_.input.begin(), spec_.input.end())},
              {"classes", spec_.classes},
              {"layers", layers},
              {"outputs", outputs}};
  // The decoders are explicit now; what remains of the SIRe section is the loss weight.
  if (!sire_.reconstructions.empty()) {
    json rec = sire_.reconstructions;
    doc["outputs"]["reconstructions"] = rec;
    doc["outputs"]["lambda"] = spec_.sire.lambda;
  }
  return doc;
}

json Model::info_json() const {
  const GraphPlan& p = net_->plan();
  json layers = json::array();
  for (size_t i = 0; i < p.layers.size(); ++i) {
    json inputs = p.layers[i].inputs;
    layers.push_back({{"name", p.layers[i].name},
                      {"type", p.layers[i].type},
                      {"inputs", inputs},
                      {"output", std::vector<int64_t>(p.shapes[i].begin(), p.shapes[i].end())},
                      {"params", net_->layer_parameters(static_cast<int>(i))}});
  }
  return {{"name", spec_.name},
          {"input", std::vector<int64_t>(spec_.input.begin(), spec_.input.end())},
          {"classes", spec_.classes},
          {"params", parameter_count()},
          {"autoencoders", sire_.autoencoders},
          {"lambda", spec_.sire.lambda},
          {"layers", layers}};
}

}  // namespace sire::models
