// A learnable MNIST-format dataset for end-to-end tests: each image's class is where a bright
// bar lies (one of ten horizontal bands), under noise. A tiny CNN learns it in a few epochs;
// chance is 90% error.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "train/trainer.h"

namespace sire::testing {

// Writes train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and
// t10k-labels-idx1-ubyte (28x28, classes 0-9) into dir.
void write_bar_images(const std::string& dir, uint32_t train, uint32_t test);

// A short run that learns them: tests/data/models/tiny-cnn.json, 3 epochs of batch 32 at lr 0.05,
// 160 images held out, seed 3, on the CPU, no progress line; data in `data`, the run in `out`.
train::TrainOptions bar_training_options(const std::string& data, const std::string& out);

// A run's metrics.jsonl, one object a line, less the timings (which differ between runs; nothing
// else may).
std::vector<nlohmann::json> run_metrics(const std::string& dir);

}  // namespace sire::testing
