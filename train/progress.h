// The progress line of a training run on stderr, redrawn in place at most a few times a second:
//   epoch 2/5  batch 13/20  loss 1.2345 (ce 1.1021, mse 0.0612)  lr 0.01  412 img/s  left 1m12s
// and a one-line summary when an epoch ends. Off (silent) when not wanted.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

#include "train/metrics.h"

namespace sire::train {

class Progress {
 public:
  // On a terminal the line is redrawn in place; into a file or pipe, a plain line is written
  // every 10 seconds instead.
  explicit Progress(bool on);
  void update(int epoch, int epochs, int64_t batch, int64_t batches, const EpochSums& sums,
              double lr, double seconds_left);
  void note(const std::string& what);  // "validating", shown until the next update
  void epoch_summary(const nlohmann::json& line);
  void finish();

 private:
  bool on_, tty_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point last_{};
};

std::string format_duration(double seconds);  // "1h02m", "3m05s", "12s"

}  // namespace sire::train
