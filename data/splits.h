// Seeded, reproducible ways of cutting a dataset into parts. Random draws come from Philox
// (through engine/random.h) on streams reserved for the data pipeline, so they depend only on
// (seed, stream) and never on what else was drawn before.
#pragma once

#include <cstdint>
#include <vector>

#include "data/dataset.h"

namespace sire::data {

// Philox stream families of the data pipeline, far above the streams a Generator hands out to
// models (which count up from 0): a split's draw for class c uses kSplitStream + c, epoch e's
// shuffle kShuffleStream + e, epoch e's flips kFlipStream + e.
constexpr uint64_t kSplitStream = uint64_t{1} << 60;
constexpr uint64_t kShuffleStream = uint64_t{2} << 60;
constexpr uint64_t kFlipStream = uint64_t{3} << 60;

// A permutation of [0, n) that depends only on (seed, stream).
std::vector<int64_t> seeded_permutation(int64_t n, uint64_t seed, uint64_t stream);

// [begin, end)
std::vector<int64_t> index_range(int64_t begin, int64_t end);

// Two disjoint parts that together hold every index of the dataset, each sorted ascending.
struct IndexSplit {
  std::vector<int64_t> kept, drawn;
};

// Stratified draws: inside each class (labels read without decoding), the samples are permuted
// with the class's own Philox stream and the first ones go to `drawn`, the rest to `kept`.
// By count: exactly `per_class` samples of every class are drawn; a class with fewer than
// per_class + 1 samples is an error. By percent: floor(n_c * percent / 100) of a class of n_c.
IndexSplit stratified_split_count(const Dataset& data, int64_t per_class, uint64_t seed);
IndexSplit stratified_split_percent(const Dataset& data, int percent, uint64_t seed);

}  // namespace sire::data
