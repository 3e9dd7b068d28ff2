// Weight initializations that model files can ask for per layer ("init", "bias_init"), so that
// the literature networks start as their reference implementations do.
#pragma once

#include "engine/nn/init.h"
#include "engine/nn/layers.h"
#include "models/spec.h"

namespace sire::models {

// init: "default" (the layer's PyTorch default), "kaiming_normal_fan_out" (torchvision's ResNet
// and VGG convolutions), "normal:STD" or "trunc_normal:STD" (truncated at +-2, as torchvision's
// GoogLeNet does). bias_init: "default" or "zeros".
void apply_init(const LayerSpec& s, Variable& weight, Variable& bias, int64_t fan_out);

}  // namespace sire::models
