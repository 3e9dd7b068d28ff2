#include "models/layers/init.h"

#include <algorithm>
#include <cmath>

namespace sire::models {

void apply_init(const LayerSpec& s, Variable& weight, Variable& bias, int64_t fan_out) {
  const std::string init = s.get_string("init", "default");
  Generator& g = default_generator();
  const bool draw = nn::init::enabled();
  if (init == "kaiming_normal_fan_out") {
    nn::init::kaiming_normal_fan_out(weight.data(), fan_out, g);
  } else if (init.rfind("normal:", 0) == 0 || init.rfind("trunc_normal:", 0) == 0) {
    const bool trunc = init[0] == 't';
    double stddev = 0;
    try {
      stddev = std::stod(init.substr(init.find(':') + 1));
    } catch (const std::exception&) {
    }
    SIRE_CHECK(stddev > 0, s.where(), ": init '", init, "' needs a positive standard deviation");
    if (draw) g.fill_normal(weight.data(), 0.0, stddev);
    if (trunc && draw) {  // bounds +-2 as torchvision uses them; at std 0.01 they lie 200 sigma out
      Tensor& w = weight.data();
      float* p = w.data<float>();
      for (int64_t i = 0; i < w.numel(); ++i) p[i] = std::clamp(p[i], -2.0f, 2.0f);
    }
  } else {
    SIRE_CHECK(init == "default", s.where(), ": unknown init '", init,
               "' (known: default, kaiming_normal_fan_out, normal:STD, trunc_normal:STD)");
  }
  const std::string bias_init = s.get_string("bias_init", "default");
  SIRE_CHECK(bias_init == "default" || bias_init == "zeros", s.where(), ": unknown bias_init '",
             bias_init, "' (known: default, zeros)");
  if (draw && bias.defined() && bias_init == "zeros") bias.data().zero_();
}

}  // namespace sire::models
