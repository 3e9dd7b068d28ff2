// Bad model files: each fault gets an error naming the file, the layer and the fault.
#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>

#include "engine/nn/init.h"
#include "models/model.h"

using namespace sire;
using namespace sire::models;
using Catch::Contains;

namespace {

std::string write(const std::string& name, const std::string& text) {
  const std::string path = "/tmp/sire_model_test_" + name;
  std::ofstream(path) << text;
  return path;
}

std::string layers(const std::string& body) {
  return R"({"name": "t", "input": [1, 8, 8], "classes": 2, "layers": [)" + body + "]}";
}

void build(const std::string& path) {
  nn::init::SkipGuard skip;
  Model::load(path);
}

}  // namespace

TEST_CASE("malformed JSON reports line and column", "[models][errors]") {
  const std::string p = write("bad.json", "{\n  \"name\": \"x\",\n  \"layers\": [1, 2,, 3]\n}");
  CHECK_THROWS_WITH(build(p), Contains(p) && Contains("line 3") && Contains("column"));
  CHECK_THROWS_WITH(build("/nonexistent/model.json"), Contains("/nonexistent/model.json") &&
                                                          Contains("cannot open"));
}

TEST_CASE("\"base\" files: beside the file, absolute, missing, and in a loop", "[models][errors]") {
  const std::string base = write("base.json", layers(R"({"name": "f", "type": "flatten"},
      {"name": "fc", "type": "linear", "out": "classes"})"));
  nn::init::SkipGuard skip;
  // Relative: beside the file that names it (both in /tmp here); absolute: as written.
  CHECK(Model::load(write("rel.json", R"({"base": "sire_model_test_base.json", "name": "r"})"))
            .spec()
            .name == "r");
  CHECK(Model::load(write("abs.json", R"({"base": ")" + base + R"(", "name": "a"})")).spec().name ==
        "a");
  const std::string missing = write("miss_base.json", R"({"base": "/nonexistent/b.json"})");
  CHECK_THROWS_WITH(build(missing), Contains(missing) && Contains("/nonexistent/b.json") &&
                                        Contains("cannot open"));
  write("loop_a.json", R"({"base": "sire_model_test_loop_b.json"})");
  const std::string b = write("loop_b.json", R"({"base": "sire_model_test_loop_a.json"})");
  CHECK_THROWS_WITH(build(b), Contains("include each other in a loop"));
  CHECK_THROWS_WITH(build(write("num_base.json", R"({"base": 3})")),
                    Contains("field 'base' must name a model file"));
}

TEST_CASE("unknown layer types list the known ones", "[models][errors]") {
  const std::string p = write("type.json", layers(R"({"name": "c", "type": "convolution", "out": 4})"));
  CHECK_THROWS_WITH(build(p), Contains("layer 'c'") && Contains("unknown type 'convolution'") &&
                                  Contains("known types:") && Contains("conv_transpose") &&
                                  Contains("maxpool"));
}

TEST_CASE("missing, mistyped and unknown fields", "[models][errors]") {
  CHECK_THROWS_WITH(build(write("miss.json", layers(R"({"name": "c", "type": "conv", "kernel": 3})"))),
                    Contains("layer 'c' (conv)") && Contains("missing field 'out'"));
  CHECK_THROWS_WITH(
      build(write("type2.json", layers(R"({"name": "c", "type": "conv", "out": "four", "kernel": 3})"))),
      Contains("layer 'c' (conv)") && Contains("'out'"));
  CHECK_THROWS_WITH(
      build(write("type3.json", layers(R"({"name": "c", "type": "conv", "out": 4, "kernel": 3.5})"))),
      Contains("field 'kernel' must be an integer, got a number 3.5"));
  CHECK_THROWS_WITH(
      build(write("unk.json", layers(R"({"name": "c", "type": "conv", "out": 4, "kernal": 3})"))),
      Contains("unknown field 'kernal'") && Contains("fields of conv:"));
  CHECK_THROWS_WITH(build(write("noin.json", R"({"name": "t", "classes": 2, "layers": []})")),
                    Contains("missing field 'input'"));
}

TEST_CASE("inputs that do not exist and cycles", "[models][errors]") {
  CHECK_THROWS_WITH(build(write("ref.json", layers(R"({"name": "a", "type": "relu", "input": "nowhere"})"))),
                    Contains("layer 'a' (relu)") && Contains("input 'nowhere' does not exist"));
  CHECK_THROWS_WITH(
      build(write("cycle.json", layers(R"({"name": "a", "type": "relu", "input": "b"},
                                          {"name": "b", "type": "relu", "input": "a"},
                                          {"name": "c", "type": "flatten", "input": "input"},
                                          {"name": "d", "type": "linear", "out": "classes"})"))),
      Contains("cycle") && Contains("a <- b") );
}

TEST_CASE("shapes that do not fit name both layers", "[models][errors]") {
  CHECK_THROWS_WITH(
      build(write("shape.json", layers(R"({"name": "c1", "type": "conv", "out": 4, "kernel": 3},
                                          {"name": "c2", "type": "conv", "out": 2, "kernel": 3, "input": "input"},
                                          {"name": "sum", "type": "add", "inputs": ["c1", "c2"]},
                                          {"name": "f", "type": "flatten"},
                                          {"name": "fc", "type": "linear", "out": "classes"})"))),
      Contains("layer 'sum' (add)") && Contains("'c1' [4, 6, 6]") && Contains("'c2' [2, 6, 6]"));
  CHECK_THROWS_WITH(
      build(write("flat.json", layers(R"({"name": "fc", "type": "linear", "out": 3})"))),
      Contains("layer 'fc' (linear)") && Contains("'input' gives [1, 8, 8]"));
  CHECK_THROWS_WITH(
      build(write("logits.json", layers(R"({"name": "f", "type": "flatten"},
                                           {"name": "fc", "type": "linear", "out": 5})"))),
      Contains("logits layer 'fc' gives [5]") && Contains("2 classes"));
}

TEST_CASE("SIRe section errors", "[models][errors]") {
  const std::string base = R"({"name": "t", "input": [1, 8, 8], "classes": 2, "layers": [
      {"name": "c", "type": "conv", "out": 2, "kernel": 3, "padding": 1},
      {"name": "p", "type": "maxpool", "kernel": 2, "downsample": true},
      {"name": "f", "type": "flatten"}, {"name": "fc", "type": "linear", "out": "classes"}],
      "sire": )";
  CHECK_THROWS_WITH(build(write("ae.json", base + R"({"autoencoders": [1, 2]}})")),
                    Contains("asks for AE 2") && Contains("1 downsampling point(s) (p)"));
  CHECK_THROWS_WITH(build(write("lam.json", base + R"({"lambda": "big"}})")),
                    Contains("sire.lambda"));
  CHECK_THROWS_WITH(build(write("sk.json", base + R"({"skip": true}})")),
                    Contains("unknown field 'sire.skip'"));
  CHECK_NOTHROW(build(write("ok.json", base + R"({"autoencoders": [1], "skips": true}})")));
}

TEST_CASE("integers out of range and shapes too large are refused, not overflowed",
          "[models][errors]") {
  CHECK_THROWS_WITH(build(write("big.json", layers(R"({"name": "c", "type": "conv",
      "out": 4294967296, "kernel": 3})"))),
                    Contains("layer 'c' (conv): field 'out' = 4294967296 is out of range"));
  CHECK_THROWS_WITH(build(write("bigin.json", R"({"name": "t", "input": [1, 8, 4294967296],
      "classes": 2, "layers": [{"name": "f", "type": "flatten"}]})")),
                    Contains("field 'input' must hold positive integers below 2^31"));
  // Each extent fits, their growth does not: 65536 x 65536 upsampled by 65536.
  CHECK_THROWS_WITH(build(write("grow.json", R"({"name": "t", "input": [1, 65536, 65536],
      "classes": 2, "layers": [{"name": "u", "type": "upsample", "scale": 65536}]})")),
                    Contains("layer 'u' (upsample): gives the shape [1, 4294967296, 4294967296]") &&
                        Contains("too large"));
}

TEST_CASE("a decoder layer that cannot be built names the model file and the layer",
          "[models][errors]") {
  nn::init::SkipGuard skip;
  const std::string file = std::string(SIRE_SOURCE_DIR) + "/models/sire-resnet34.json";
  ModelOptions o;
  o.input = Shape{3, 1, 224};  // the backbone takes it; AE 5's mirrored stride-2 block cannot
  CHECK_THROWS_WITH(Model::load(file, o),
                    Contains(file + " (sire transform): layer 'ae5.layer4.0_t' (basic_block_t)") &&
                        Contains("cannot reach size 1x14"));
  // An option at fault is not blamed on the file.
  o.input.reset();
  o.classes = 0;
  CHECK_THROWS_WITH(Model::load(file, o), !Contains(file) && Contains("classes must be positive"));
}
