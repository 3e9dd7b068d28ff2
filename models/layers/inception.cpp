// Layer types for GoogLeNet's inception module and its SIRe inverse.
#include "models/blocks/inception.h"
#include "models/layer_type.h"

namespace sire::models {
namespace {

using Shapes = std::vector<Shape>;

InceptionChannels channels_of(const LayerSpec& s, int64_t in) {
  InceptionChannels c{in,
                      s.get_int("ch1x1"),
                      s.get_int("ch3x3red"),
                      s.get_int("ch3x3"),
                      s.get_int("ch5x5red"),
                      s.get_int("ch5x5"),
                      s.get_int("pool_proj")};
  for (int64_t v : {c.ch1x1, c.ch3x3red, c.ch3x3, c.ch5x5red, c.ch5x5, c.pool_proj})
    SIRE_CHECK(v > 0, s.where(), ": every branch width must be positive");
  return c;
}

double init_std(const LayerSpec& s) {
  const std::string init = s.get_string("init", "default");
  if (init == "default") return 0.0;
  SIRE_CHECK(init.rfind("trunc_normal:", 0) == 0, s.where(), ": unknown init '", init,
             "' (known: default, trunc_normal:STD)");
  return std::stod(init.substr(13));
}

Shape inception_infer(const LayerSpec& s, const Shapes& in, const BuildContext&) {
  SIRE_CHECK(in[0].size() == 3, s.where(), ": needs an image input, '", s.inputs[0], "' gives ", in[0]);
  return {channels_of(s, in[0][0]).out(), in[0][1], in[0][2]};
}

std::shared_ptr<nn::Module> inception_build(const LayerSpec& s, const Shapes& in, const BuildContext&) {
  return std::make_shared<Inception>(channels_of(s, in[0][0]), init_std(s));
}

Shape inception_t_infer(const LayerSpec& s, const Shapes& in, const BuildContext&) {
  SIRE_CHECK(in[0].size() == 3, s.where(), ": needs an image input, '", s.inputs[0], "' gives ", in[0]);
  const InceptionChannels c = channels_of(s, s.get_int("out"));
  SIRE_CHECK(in[0][0] == c.out(), s.where(), ": input '", s.inputs[0], "' ", in[0], " should have ",
             c.out(), " channels (the four branches' widths)");
  return {c.in, in[0][1], in[0][2]};
}

std::shared_ptr<nn::Module> inception_t_build(const LayerSpec& s, const Shapes&, const BuildContext&) {
  return std::make_shared<InceptionTransposed>(channels_of(s, s.get_int("out")),
                                               s.get_bool("final", false),
                                               fan_in_rule(s.get_string("init", "fan_in")));
}

std::vector<LayerSpec> inception_invert(const InvertRequest& r) {
  json f = r.layer->fields;
  f.erase("downsample");
  f["out"] = r.in[0];
  f["final"] = r.last;
  f["init"] = r.decoder_init;
  return {make_layer(r.prefix + r.layer->name + "_t", "inception_t", {r.input}, f)};
}

const std::vector<std::string> kBranches = {"ch1x1", "ch3x3red", "ch3x3", "ch5x5red", "ch5x5",
                                            "pool_proj"};

std::vector<std::string> with(std::vector<std::string> a, std::vector<std::string> b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace

void register_inception_layers() {
  register_layer_type({"inception",
                       "GoogLeNet inception: ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj",
                       with(kBranches, {"init", "downsample"}), 1, 1, Role::kUnitHead,
                       inception_infer, inception_build, inception_invert});
  register_layer_type({"inception_t",
                       "inverted inception: out (the inception's input channels) and its widths",
                       with(kBranches, {"out", "final", "init"}), 1, 1, Role::kOther,
                       inception_t_infer, inception_t_build, nullptr});
}

}  // namespace sire::models
