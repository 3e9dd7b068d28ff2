// The primitive layer types: convolutions, normalization, activations, pooling, resampling,
// dense layers and the parameter-free joins (add, concat, shortcut).
#include "engine/ops.h"
#include "kernels/common/conv_geometry.h"
#include "kernels/common/pool_geometry.h"
#include "models/layer_type.h"
#include "models/layers/init.h"

namespace sire::models {
namespace {

using Shapes = std::vector<Shape>;

void require_image(const LayerSpec& s, const Shape& in) {
  SIRE_CHECK(in.size() == 3, s.where(), ": needs an image input [C, H, W], but '", s.inputs[0],
             "' gives ", in);
}

std::string shapes_of(const LayerSpec& s, const Shapes& in) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i)
    out += str(i ? ", " : "", "'", s.inputs[i], "' ", in[i]);
  return out;
}

// --- conv / conv_transpose ---------------------------------------------------------------

Shape conv_infer(const LayerSpec& s, const Shapes& in, const BuildContext& ctx) {
  require_image(s, in[0]);
  const int64_t k = s.get_int("kernel"), st = s.get_int("stride", 1), p = s.get_int("padding", 0);
  resolve_count(s, "out", ctx);
  SIRE_CHECK(k > 0 && st > 0 && p >= 0, s.where(), ": kernel ", k, ", stride ", st, ", padding ", p);
  SIRE_CHECK(in[0][1] + 2 * p >= k && in[0][2] + 2 * p >= k, s.where(), ": kernel ", k,
             " does not fit the input ", in[0], " from '", s.inputs[0], "' with padding ", p);
  return {resolve_count(s, "out", ctx), conv_out_size(in[0][1], k, st, p),
          conv_out_size(in[0][2], k, st, p)};
}

std::shared_ptr<nn::Module> conv_build(const LayerSpec& s, const Shapes& in, const BuildContext& ctx) {
  const int64_t out = resolve_count(s, "out", ctx), k = s.get_int("kernel");
  auto m = std::make_shared<nn::Conv2d>(in[0][0], out, k, s.get_int("stride", 1),
                                        s.get_int("padding", 0), s.get_bool("bias", true));
  apply_init(s, m->weight, m->bias, out * k * k);
  return m;
}

int64_t output_padding_of(const LayerSpec& s, const Shape& in) {
  const int64_t k = s.get_int("kernel"), st = s.get_int("stride", 1), p = s.get_int("padding", 0);
  if (!s.has("size")) return s.get_int("output_padding", 0);
  // An explicit output size (what the SIRe transform asks for) fixes the output padding.
  const auto size = s.get_int_list("size");
  SIRE_CHECK(size.size() == 2, s.where(), ": field 'size' must be [height, width]");
  const int64_t base_h = conv_transpose_out_size(in[1], k, st, p, 0);
  const int64_t base_w = conv_transpose_out_size(in[2], k, st, p, 0);
  const int64_t oh = size[0] - base_h, ow = size[1] - base_w;
  SIRE_CHECK(oh == ow && oh >= 0 && oh < st, s.where(), ": cannot reach size ", size[0], "x",
             size[1], " from ", in, " with kernel ", k, ", stride ", st, ", padding ", p);
  return oh;
}

Shape conv_t_infer(const LayerSpec& s, const Shapes& in, const BuildContext& ctx) {
  require_image(s, in[0]);
  const int64_t k = s.get_int("kernel"), st = s.get_int("stride", 1), p = s.get_int("padding", 0);
  const int64_t op = output_padding_of(s, in[0]);
  SIRE_CHECK(k > 0 && st > 0 && p >= 0 && op >= 0 && op < st, s.where(), ": kernel ", k,
             ", stride ", st, ", padding ", p, ", output_padding ", op);
  const int64_t h = conv_transpose_out_size(in[0][1], k, st, p, op);
  const int64_t w = conv_transpose_out_size(in[0][2], k, st, p, op);
  SIRE_CHECK(h > 0 && w > 0, s.where(), ": input ", in[0], " gives an empty output");
  return {resolve_count(s, "out", ctx), h, w};
}

std::shared_ptr<nn::Module> conv_t_build(const LayerSpec& s, const Shapes& in, const BuildContext& ctx) {
  return std::make_shared<nn::ConvTranspose2d>(
      in[0][0], resolve_count(s, "out", ctx), s.get_int("kernel"), s.get_int("stride", 1),
      s.get_int("padding", 0), output_padding_of(s, in[0]), s.get_bool("bias", true),
      fan_in_rule(s.get_string("init", "fan_in")));
}

// A conv unit (conv [+ bn] [+ relu]) inverts to convT [+ bn] [+ relu] with the channels
// swapped, reaching exactly the encoder's input size; the reconstruction ends linear.
std::vector<LayerSpec> conv_invert(const InvertRequest& r) {
  const LayerSpec& s = *r.layer;
  const std::string base = r.prefix + s.name + "_t";
  std::vector<LayerSpec> out;
  out.push_back(make_layer(base, "conv_transpose", {r.input},
                           {{"out", r.in[0]},
                            {"kernel", s.get_int("kernel")},
                            {"stride", s.get_int("stride", 1)},
                            {"padding", s.get_int("padding", 0)},
                            {"size", {r.in[1], r.in[2]}},
                            {"init", r.decoder_init}}));
  if (r.last) return out;
  if (r.tail_bn) out.push_back(make_layer(base + "_bn", "batchnorm", {out.back().name}, json::object()));
  if (r.tail_relu) out.push_back(make_layer(base + "_relu", "relu", {out.back().name}, json::object()));
  return out;
}

// --- normalization, activation, regularization ---------------------------------------------

Shape same_shape(const LayerSpec&, const Shapes& in, const BuildContext&) { return in[0]; }

std::shared_ptr<nn::Module> bn_build(const LayerSpec& s, const Shapes& in, const BuildContext&) {
  SIRE_CHECK(in[0].size() == 3 || in[0].size() == 1, s.where(), ": needs [C, H, W] or [C], got ",
             in[0]);
  return std::make_shared<nn::BatchNorm2d>(in[0][0], s.get_number("eps", 1e-5),
                                           s.get_number("momentum", 0.1));
}

// --- pooling and resampling --------------------------------------------------------------

Shape maxpool_infer(const LayerSpec& s, const Shapes& in, const BuildContext&) {
  require_image(s, in[0]);
  const int64_t k = s.get_int("kernel"), st = s.get_int("stride", k), p = s.get_int("padding", 0);
  const bool ceil = s.get_bool("ceil_mode", false);
  SIRE_CHECK(k > 0 && st > 0 && p >= 0 && 2 * p <= k, s.where(), ": kernel ", k, ", stride ", st,
             ", padding ", p);
  SIRE_CHECK(in[0][1] + 2 * p >= k && in[0][2] + 2 * p >= k, s.where(), ": kernel ", k,
             " does not fit the input ", in[0], " from '", s.inputs[0], "'");
  return {in[0][0], pool_out_size(in[0][1], k, st, p, ceil), pool_out_size(in[0][2], k, st, p, ceil)};
}

std::shared_ptr<nn::Module> maxpool_build(const LayerSpec& s, const Shapes&, const BuildContext&) {
  const int64_t k = s.get_int("kernel");
  return std::make_shared<nn::MaxPool2d>(k, s.get_int("stride", k), s.get_int("padding", 0),
                                         s.get_bool("ceil_mode", false));
}

// Max-pool inverts to a nearest upsample to the exact pre-pool size (parameter-free).
std::vector<LayerSpec> maxpool_invert(const InvertRequest& r) {
  return {make_layer(r.prefix + r.layer->name + "_up", "upsample", {r.input},
                     {{"size", {r.in[1], r.in[2]}}})};
}

Shape upsample_infer(const LayerSpec& s, const Shapes& in, const BuildContext&) {
  require_image(s, in[0]);
  SIRE_CHECK(s.has("scale") != s.has("size"), s.where(), ": give either 'scale' or 'size'");
  if (s.has("scale")) {
    const int64_t f = s.get_int("scale");
    SIRE_CHECK(f >= 1, s.where(), ": scale ", f, " must be >= 1");
    return {in[0][0], in[0][1] * f, in[0][2] * f};
  }
  const auto size = s.get_int_list("size");
  SIRE_CHECK(size.size() == 2 && size[0] > 0 && size[1] > 0, s.where(),
             ": field 'size' must be [height, width]");
  return {in[0][0], size[0], size[1]};
}

std::shared_ptr<nn::Module> upsample_build(const LayerSpec& s, const Shapes&, const BuildContext&) {
  if (s.has("scale")) return std::make_shared<nn::Upsample>(s.get_int("scale"));
  const auto size = s.get_int_list("size");
  return std::make_shared<nn::Upsample>(size[0], size[1]);
}

std::vector<int64_t> pair_of(const LayerSpec& s, const std::string& key) {
  if (s.has(key) && s.fields.at(key).is_number_integer()) {
    const int64_t v = s.get_int(key);
    return {v, v};
  }
  auto v = s.get_int_list(key);
  SIRE_CHECK(v.size() == 2 && v[0] > 0 && v[1] > 0, s.where(), ": field '", key,
             "' must be a positive integer or [height, width]");
  return v;
}

Shape avgpool_infer(const LayerSpec& s, const Shapes& in, const BuildContext&) {
  require_image(s, in[0]);
  const auto size = pair_of(s, "size");
  return {in[0][0], size[0], size[1]};
}

std::shared_ptr<nn::Module> avgpool_build(const LayerSpec& s, const Shapes&, const BuildContext&) {
  const auto size = pair_of(s, "size");
  return std::make_shared<nn::AdaptiveAvgPool2d>(size[0], size[1]);
}

// --- dense -------------------------------------------------------------------------------

Shape flatten_infer(const LayerSpec&, const Shapes& in, const BuildContext&) {
  return {numel(in[0])};
}

Shape linear_infer(const LayerSpec& s, const Shapes& in, const BuildContext& ctx) {
  SIRE_CHECK(in[0].size() == 1, s.where(), ": needs a flat input [features] (add a flatten "
             "layer), but '", s.inputs[0], "' gives ", in[0]);
  return {resolve_count(s, "out", ctx)};
}

std::shared_ptr<nn::Module> linear_build(const LayerSpec& s, const Shapes& in, const BuildContext& ctx) {
  const int64_t out = resolve_count(s, "out", ctx);
  auto m = std::make_shared<nn::Linear>(in[0][0], out, s.get_bool("bias", true));
  apply_init(s, m->weight, m->bias, out);
  return m;
}

// --- joins -------------------------------------------------------------------------------

class AddModule : public nn::Module, public MultiInput {
 public:
  Variable forward(const Variable& x) override { return x; }
  Variable forward_inputs(const std::vector<Variable>& xs) override {
    Variable y = xs[0];
    for (size_t i = 1; i < xs.size(); ++i) y = ops::add(y, xs[i]);
    return y;
  }
  std::string describe() const override { return "Add()"; }
};

Shape add_infer(const LayerSpec& s, const Shapes& in, const BuildContext&) {
  for (const Shape& x : in)
    SIRE_CHECK(x == in[0], s.where(), ": inputs differ in shape: ", shapes_of(s, in));
  return in[0];
}

class ConcatModule : public nn::Module, public MultiInput {
 public:
  Variable forward(const Variable& x) override { return x; }
  Variable forward_inputs(const std::vector<Variable>& xs) override {
    return ops::concat_channels(xs);
  }
  std::string describe() const override { return "Concat()"; }
};

Shape concat_infer(const LayerSpec& s, const Shapes& in, const BuildContext&) {
  Shape out = in[0];
  for (size_t i = 1; i < in.size(); ++i) {
    Shape a = in[i], b = in[0];
    SIRE_CHECK(a.size() == b.size() && a.size() >= 1, s.where(), ": inputs differ in rank: ",
               shapes_of(s, in));
    a[0] = b[0] = 0;
    SIRE_CHECK(a == b, s.where(), ": inputs differ outside the channel dimension: ", shapes_of(s, in));
    out[0] += in[i][0];
  }
  return out;
}

// A residual shortcut: input 0 (the main path) plus input 1 (the shortcut source), whose
// missing channels are zeros (the parameter-free "option A" of He et al.).
class ShortcutModule : public nn::Module, public MultiInput {
 public:
  Variable forward(const Variable& x) override { return x; }
  Variable forward_inputs(const std::vector<Variable>& xs) override {
    const int64_t extra = xs[0].size(1) - xs[1].size(1);
    return ops::add(xs[0], extra > 0 ? ops::pad_channels(xs[1], 0, extra) : xs[1]);
  }
  std::string describe() const override { return "Shortcut(zero-padded channels)"; }
};

Shape shortcut_infer(const LayerSpec& s, const Shapes& in, const BuildContext&) {
  SIRE_CHECK(in[0].size() == in[1].size() && in[0].size() == 3 && in[1][1] == in[0][1] &&
                 in[1][2] == in[0][2] && in[1][0] <= in[0][0],
             s.where(), ": the shortcut from '", s.inputs[1], "' ", in[1],
             " cannot be added to '", s.inputs[0], "' ", in[0],
             " (same height and width, and no more channels, are needed)");
  return in[0];
}

template <class M>
std::shared_ptr<nn::Module> simple(const LayerSpec&, const Shapes&, const BuildContext&) {
  return std::make_shared<M>();
}

}  // namespace

void register_basic_layers() {
  const std::vector<std::string> conv_fields = {"out", "kernel", "stride", "padding", "bias",
                                                "init", "bias_init", "downsample"};
  register_layer_type({"conv", "2-D convolution: out, kernel, stride (1), padding (0), bias (true)",
                       conv_fields, 1, 1, Role::kUnitHead, conv_infer, conv_build, conv_invert});
  register_layer_type({"conv_transpose",
                       "transposed convolution: out, kernel, stride, padding, output_padding or "
                       "size [h, w], bias, init (fan_in | pytorch)",
                       {"out", "kernel", "stride", "padding", "output_padding", "size", "bias", "init"},
                       1, 1, Role::kOther, conv_t_infer, conv_t_build, nullptr});
  register_layer_type({"batchnorm", "batch normalization over channels: eps (1e-5), momentum (0.1)",
                       {"eps", "momentum", "downsample"}, 1, 1, Role::kUnitTail, same_shape,
                       bn_build, nullptr});
  register_layer_type({"relu", "rectified linear unit", {"downsample"}, 1, 1, Role::kUnitTail,
                       same_shape, simple<nn::ReLU>, nullptr});
  register_layer_type({"dropout", "dropout: p (0.5)", {"p"}, 1, 1, Role::kUnitTail, same_shape,
                       [](const LayerSpec& s, const Shapes&, const BuildContext&) {
                         const double p = s.get_number("p", 0.5);
                         SIRE_CHECK(p >= 0 && p < 1, s.where(), ": p ", p, " outside [0, 1)");
                         return std::static_pointer_cast<nn::Module>(std::make_shared<nn::Dropout>(p));
                       },
                       nullptr});
  register_layer_type({"maxpool",
                       "max pooling: kernel, stride (kernel), padding (0), ceil_mode (false); "
                       "downsample: true marks a SIRe auto-encoder point",
                       {"kernel", "stride", "padding", "ceil_mode", "downsample"}, 1, 1,
                       Role::kDownsample, maxpool_infer, maxpool_build, maxpool_invert});
  register_layer_type({"upsample", "nearest-neighbour upsampling: scale, or size [h, w]",
                       {"scale", "size"}, 1, 1, Role::kOther, upsample_infer, upsample_build, nullptr});
  register_layer_type({"avgpool", "adaptive average pooling to size [h, w] (or an integer)",
                       {"size"}, 1, 1, Role::kOther, avgpool_infer, avgpool_build, nullptr});
  register_layer_type({"flatten", "[C, H, W] -> [C H W]", {}, 1, 1, Role::kOther, flatten_infer,
                       simple<nn::Flatten>, nullptr});
  register_layer_type({"linear", "fully connected: out (an integer or \"classes\"), bias",
                       {"out", "bias", "init", "bias_init"}, 1, 1, Role::kOther, linear_infer,
                       linear_build, nullptr});
  register_layer_type({"add", "element-wise sum of its inputs", {}, 2, 16, Role::kOther,
                       add_infer, simple<AddModule>, nullptr});
  register_layer_type({"concat", "concatenation along channels", {}, 2, 16, Role::kOther,
                       concat_infer, simple<ConcatModule>, nullptr});
  register_layer_type({"shortcut",
                       "residual sum: input 0 + input 1 with zero-padded channels; optional: "
                       "true keeps it only when sire.residual is on",
                       {"optional"}, 2, 2, Role::kUnitTail, shortcut_infer, simple<ShortcutModule>,
                       nullptr});
}

}  // namespace sire::models
