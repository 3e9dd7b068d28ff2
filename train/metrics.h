// What a training run measures: top-1/top-5 counts, running means of every loss term, the
// mean gradient magnitude of every convolution weight; one JSON line per epoch.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace sire::train {

using json = nlohmann::json;

// Top-1 and top-5 hits of a batch: logits [N, M] and labels [N], on the CPU.
struct TopK {
  int64_t hit1 = 0, hit5 = 0, count = 0;
  void add(const Tensor& logits, const Tensor& labels);
  double error1() const { return count ? 100.0 * (1.0 - double(hit1) / double(count)) : 0.0; }
  double error5() const { return count ? 100.0 * (1.0 - double(hit5) / double(count)) : 0.0; }
  json to_json() const { return {hit1, hit5, count}; }
  static TopK from_json(const json& j) { return {j[0], j[1], j[2]}; }
};

// Sums over an epoch, saved in checkpoints so that an interrupted epoch resumes exactly.
struct EpochSums {
  double loss = 0, ce = 0;            // sample-weighted sums
  std::vector<double> aux, mse;       // per auxiliary classifier / auto-encoder
  TopK top;
  int64_t samples = 0, steps = 0;
  std::map<std::string, double> grad;  // conv weight name -> sum over steps of mean |grad|
  // With gradient clipping: the sum and the largest of the steps' global gradient norms (before
  // clipping), and how many steps were clipped.
  double grad_norm = 0, grad_norm_max = 0;
  int64_t clipped = 0;
  double seconds = 0;

  json to_json() const;
  static EpochSums from_json(const json& j);
};

}  // namespace sire::train
