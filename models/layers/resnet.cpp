// Layer types for ResNet's residual blocks and their transposes.
#include "kernels/common/conv_geometry.h"
#include "models/blocks/residual_block.h"
#include "models/layer_type.h"

namespace sire::models {
namespace {

using Shapes = std::vector<Shape>;

bool is_bottleneck(const LayerSpec& s) { return s.type.rfind("bottleneck", 0) == 0; }

// Output channels of an encoder block: planes, or 4 planes for a bottleneck.
int64_t block_out(const LayerSpec& s) { return s.get_int("out") * (is_bottleneck(s) ? 4 : 1); }

Shape block_infer(const LayerSpec& s, const Shapes& in, const BuildContext&) {
  SIRE_CHECK(in[0].size() == 3, s.where(), ": needs an image input, '", s.inputs[0], "' gives ", in[0]);
  const int64_t st = s.get_int("stride", 1);
  SIRE_CHECK(st >= 1 && s.get_int("out") > 0, s.where(), ": out and stride must be positive");
  return {block_out(s), conv_out_size(in[0][1], 3, st, 1), conv_out_size(in[0][2], 3, st, 1)};
}

std::shared_ptr<nn::Module> block_build(const LayerSpec& s, const Shapes& in, const BuildContext&) {
  const int64_t cin = in[0][0], planes = s.get_int("out"), st = s.get_int("stride", 1);
  const int64_t cout = block_out(s);
  std::vector<BlockStage> stages;
  if (is_bottleneck(s)) {
    stages = {{cin, planes, 1, 1, 0}, {planes, planes, 3, st, 1}, {planes, cout, 1, 1, 0}};
  } else {
    stages = {{cin, planes, 3, st, 1}, {planes, planes, 3, 1, 1}};
  }
  const BlockStage proj{cin, cout, 1, st, 0};
  ResidualBlockOptions o;
  const std::string init = s.get_string("init", "default");
  SIRE_CHECK(init == "default" || init == "kaiming_normal_fan_out", s.where(), ": unknown init '",
             init, "' (known: default, kaiming_normal_fan_out)");
  o.kaiming_fan_out = init == "kaiming_normal_fan_out";
  return std::make_shared<ResidualBlock>(stages, (st != 1 || cin != cout) ? &proj : nullptr, o,
                                         str(s.type, "(", cin, " -> ", cout, ", stride ", st, ")"));
}

// The transposed block reaches its `size` exactly: each strided stage gets the output padding
// that the size asks for.
Shape block_t_infer(const LayerSpec& s, const Shapes& in, const BuildContext&) {
  SIRE_CHECK(in[0].size() == 3, s.where(), ": needs an image input, '", s.inputs[0], "' gives ", in[0]);
  const auto size = s.get_int_list("size");
  SIRE_CHECK(size.size() == 2, s.where(), ": field 'size' must be [height, width]");
  const int64_t st = s.get_int("stride", 1);
  const int64_t op_h = size[0] - conv_transpose_out_size(in[0][1], 3, st, 1, 0);
  const int64_t op_w = size[1] - conv_transpose_out_size(in[0][2], 3, st, 1, 0);
  SIRE_CHECK(op_h == op_w && op_h >= 0 && op_h < st, s.where(), ": cannot reach size ", size[0],
             "x", size[1], " from ", in[0], " with stride ", st);
  return {s.get_int("out"), size[0], size[1]};
}

std::shared_ptr<nn::Module> block_t_build(const LayerSpec& s, const Shapes& in, const BuildContext&) {
  const int64_t cin = in[0][0], cout = s.get_int("out"), st = s.get_int("stride", 1);
  const auto size = s.get_int_list("size");
  // (H - 1) s - 2 + 3 + op = (H - 1) s + 1 + op: the 3x3 (padding 1) and 1x1 stages agree.
  const int64_t op = size[0] - conv_transpose_out_size(in[0][1], 3, st, 1, 0);
  std::vector<BlockStage> stages;
  if (is_bottleneck(s)) {
    const int64_t width = s.get_int("width");
    stages = {{cin, width, 1, 1, 0}, {width, width, 3, st, 1, op}, {width, cout, 1, 1, 0}};
  } else {
    stages = {{cin, cin, 3, 1, 1}, {cin, cout, 3, st, 1, op}};
  }
  const BlockStage proj{cin, cout, 1, st, 0, op};
  ResidualBlockOptions o;
  o.transposed = true;
  o.final_relu = s.get_bool("final_relu", true);
  o.fan_in = fan_in_rule(s.get_string("init", "fan_in"));
  return std::make_shared<ResidualBlock>(stages, (st != 1 || cin != cout) ? &proj : nullptr, o,
                                         str(s.type, "(", cin, " -> ", cout, ", stride ", st, ")"));
}

std::vector<LayerSpec> block_invert(const InvertRequest& r) {
  const LayerSpec& s = *r.layer;
  json f = {{"out", r.in[0]},
            {"stride", s.get_int("stride", 1)},
            {"size", {r.in[1], r.in[2]}},
            {"final_relu", !r.last},
            {"init", r.decoder_init}};
  if (is_bottleneck(s)) f["width"] = s.get_int("out");
  return {make_layer(r.prefix + s.name + "_t", s.type + "_t", {r.input}, f)};
}

}  // namespace

void register_resnet_layers() {
  register_layer_type({"basic_block",
                       "ResNet basic block: out (channels), stride (1); 1x1 projection shortcut "
                       "when the shape changes",
                       {"out", "stride", "init", "downsample"}, 1, 1, Role::kUnitHead, block_infer,
                       block_build, block_invert});
  register_layer_type({"bottleneck",
                       "ResNet bottleneck: out (width; the block outputs 4x), stride (1, on the 3x3)",
                       {"out", "stride", "init", "downsample"}, 1, 1, Role::kUnitHead, block_infer,
                       block_build, block_invert});
  register_layer_type({"basic_block_t",
                       "transposed basic block: out, stride, size [h, w], final_relu, init",
                       {"out", "stride", "size", "final_relu", "init"}, 1, 1, Role::kOther,
                       block_t_infer, block_t_build, nullptr});
  register_layer_type({"bottleneck_t",
                       "transposed bottleneck: out, width, stride, size [h, w], final_relu, init",
                       {"out", "width", "stride", "size", "final_relu", "init"}, 1, 1, Role::kOther,
                       block_t_infer, block_t_build, nullptr});
}

}  // namespace sire::models
