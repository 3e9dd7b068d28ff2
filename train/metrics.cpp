#include "train/metrics.h"

#include <algorithm>
#include <numeric>

namespace sire::train {

void TopK::add(const Tensor& logits, const Tensor& labels) {
  const int64_t N = logits.size(0), M = logits.size(1);
  const std::vector<double> z = logits.to_vector();
  const int32_t* y = labels.data<int32_t>();
  for (int64_t n = 0; n < N; ++n) {
    const double* row = z.data() + n * M;
    // Rank of the true class: how many classes score strictly higher (ties count for it).
    int64_t higher = 0;
    for (int64_t j = 0; j < M; ++j) higher += row[j] > row[y[n]];
    hit1 += higher < 1;
    hit5 += higher < 5;
    ++count;
  }
}

json EpochSums::to_json() const {
  return {{"loss", loss},
          {"ce", ce},
          {"aux", aux},
          {"mse", mse},
          {"top", top.to_json()},
          {"samples", samples},
          {"steps", steps},
          {"grad", grad},
          {"seconds", seconds},
          {"grad_norm", grad_norm},
          {"grad_norm_max", grad_norm_max},
          {"clipped", clipped}};
}

EpochSums EpochSums::from_json(const json& j) {
  EpochSums s;
  s.loss = j.at("loss");
  s.ce = j.at("ce");
  s.aux = j.at("aux").get<std::vector<double>>();
  s.mse = j.at("mse").get<std::vector<double>>();
  s.top = TopK::from_json(j.at("top"));
  s.samples = j.at("samples");
  s.steps = j.at("steps");
  s.grad = j.at("grad").get<std::map<std::string, double>>();
  s.seconds = j.at("seconds");
  // Absent from the checkpoints of runs made before gradient clipping existed (none clipped).
  s.grad_norm = j.value("grad_norm", 0.0);
  s.grad_norm_max = j.value("grad_norm_max", 0.0);
  s.clipped = j.value("clipped", int64_t{0});
  return s;
}

}  // namespace sire::train
