#include "models/sire_transform.h"

#include <algorithm>
#include <deque>
#include <map>

namespace sire::models {
namespace {

// Removes the optional shortcuts, pointing every use of one at its main input instead.
std::vector<LayerSpec> resolve_shortcuts(const std::vector<LayerSpec>& layers, bool residual) {
  if (residual) return layers;
  std::map<std::string, std::string> replaced;
  std::vector<LayerSpec> out;
  for (LayerSpec l : layers) {
    for (std::string& in : l.inputs)
      while (replaced.count(in)) in = replaced[in];
    if (l.type == "shortcut" && l.get_bool("optional", false)) {
      replaced[l.name] = l.inputs.at(0);
      continue;
    }
    out.push_back(std::move(l));
  }
  // A later layer may name a removed one before it was seen (any order is allowed in files).
  for (LayerSpec& l : out)
    for (std::string& in : l.inputs)
      while (replaced.count(in)) in = replaced[in];
  return out;
}

struct Unit {
  const LayerSpec* head;         // the conv-like layer or the pool
  std::string output;            // name of the unit's last layer
  bool bn = false, relu = false;
};

// The units on the path from the model input to `point`, following each layer's first input.
std::vector<Unit> path_units(const GraphPlan& plan, const std::string& point, int ae) {
  std::deque<const LayerSpec*> chain;
  for (std::string cur = point; cur != "input"; cur = plan.layer(cur).inputs.at(0))
    chain.push_front(&plan.layer(cur));
  std::vector<Unit> units;
  for (const LayerSpec* l : chain) {
    const LayerType& t = layer_type_of(*l);
    switch (t.role) {
      case Role::kUnitHead:
      case Role::kDownsample:
        SIRE_CHECK(t.invert, l->where(), ": cannot be inverted for AE ", ae);
        units.push_back({l, l->name});
        break;
      case Role::kUnitTail:
        SIRE_CHECK(!units.empty(), l->where(), ": on the path to AE ", ae,
                   " but no convolution or pool precedes it");
        units.back().output = l->name;
        units.back().bn = units.back().bn || l->type == "batchnorm";
        units.back().relu = units.back().relu || l->type == "relu";
        break;
      case Role::kOther:
        SIRE_FAIL(l->where(), ": lies on the path to AE ", ae, " (downsampling point '", point,
                  "') but layers of type '", l->type, "' cannot be inverted");
    }
  }
  return units;
}

}  // namespace

namespace {

// The layers made here (shortcuts, decoders) name the model's file in their errors.
void name_file(const ModelSpec& spec, std::vector<LayerSpec>& layers) {
  for (LayerSpec& l : layers)
    if (l.origin == "sire transform") l.origin = spec.file + " (sire transform)";
}

}  // namespace

SireNetwork apply_sire(const ModelSpec& spec, const BuildContext& ctx) {
  SireNetwork net;
  net.layers = resolve_shortcuts(spec.layers, spec.sire.residual);
  name_file(spec, net.layers);
  const GraphPlan plan = plan_graph(net.layers, spec.input, ctx);
  for (const LayerSpec& l : net.layers)
    if (l.get_bool("downsample", false)) net.downsample_points.push_back(l.name);
  // File order and graph order agree on a chain; take the graph's, which is what runs.
  std::sort(net.downsample_points.begin(), net.downsample_points.end(),
            [&](const std::string& a, const std::string& b) { return plan.index.at(a) < plan.index.at(b); });

  std::vector<int> wanted = spec.sire.autoencoders;
  std::sort(wanted.begin(), wanted.end());
  wanted.erase(std::unique(wanted.begin(), wanted.end()), wanted.end());
  for (int ae : wanted) {
    std::string points;
    for (auto& p : net.downsample_points) points += (points.empty() ? "" : ", ") + p;
    SIRE_CHECK(ae >= 1 && ae <= static_cast<int>(net.downsample_points.size()), spec.file,
               ": sire.autoencoders asks for AE ", ae, " but the backbone marks ",
               net.downsample_points.size(), " downsampling point(s)",
               points.empty() ? "" : " (" + points + ")");
    const std::string& point = net.downsample_points[ae - 1];
    const std::vector<Unit> units = path_units(plan, point, ae);
    const std::string prefix = "ae" + std::to_string(ae) + ".";

    std::string d = point;  // the decoder tensor, mirroring the output of unit j
    for (int j = static_cast<int>(units.size()) - 1; j >= 0; --j) {
      const Unit& u = units[j];
      if (spec.sire.skips && j + 1 < static_cast<int>(units.size()) &&
          layer_type_of(*u.head).role == Role::kUnitHead) {
        net.layers.push_back(make_layer(prefix + u.output + "_skip", "add", {d, u.output}, json::object()));
        d = net.layers.back().name;
      }
      InvertRequest r;
      r.layer = u.head;
      r.in = plan.shape_of(u.head->inputs.at(0), spec.input);
      r.out = plan.shape_of(u.output, spec.input);
      r.input = d;
      r.prefix = prefix;
      r.last = j == 0;
      r.tail_bn = u.bn;
      r.tail_relu = u.relu;
      r.decoder_init = spec.sire.decoder_init;
      std::vector<LayerSpec> inverse = layer_type_of(*u.head).invert(r);
      for (LayerSpec& l : inverse) net.layers.push_back(std::move(l));
      d = net.layers.back().name;
    }
    net.autoencoders.push_back(ae);
    net.reconstructions.push_back(d);
  }
  name_file(spec, net.layers);
  return net;
}

}  // namespace sire::models
