// A learnable MNIST-format dataset for end-to-end tests: each image's class is where a bright
// bar lies (one of ten horizontal bands), under noise. A tiny CNN learns it in a few epochs;
// chance is 90% error.
#pragma once

#include <cstdint>
#include <string>

namespace sire::testing {

// Writes train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and
// t10k-labels-idx1-ubyte (28x28, classes 0-9) into dir.
void write_bar_images(const std::string& dir, uint32_t train, uint32_t test);

}  // namespace sire::testing
