// Reproducible randomness. A Generator is a seed plus a count of the streams handed out: each
// draw (an initialization, a dropout mask) takes a fresh Philox stream, and element i of a
// stream depends only on (seed, stream, i). Saving the count saves the generator's state.
#pragma once

#include <cstdint>

#include "engine/tensor.h"

namespace sire {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0) : seed_(seed) {}

  uint64_t seed() const { return seed_; }
  uint64_t streams_used() const { return next_stream_; }
  void set_state(uint64_t seed, uint64_t streams_used) {
    seed_ = seed;
    next_stream_ = streams_used;
  }
  uint64_t next_stream() { return next_stream_++; }

  // Fill a tensor (of any device: GPU tensors are filled on the host, then copied).
  void fill_uniform(Tensor& t, double lo, double hi);
  void fill_normal(Tensor& t, double mean, double stddev);
  // One number from a fresh stream, and a random permutation of [0, n).
  double uniform();
  std::vector<int64_t> permutation(int64_t n);

 private:
  uint64_t seed_;
  uint64_t next_stream_ = 0;
};

// The generator that modules draw their initial weights and dropout masks from.
Generator& default_generator();
void manual_seed(uint64_t seed);

}  // namespace sire
