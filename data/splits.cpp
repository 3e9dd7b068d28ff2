#include "data/splits.h"

#include <algorithm>
#include <functional>
#include <numeric>

#include "engine/error.h"
#include "engine/random.h"

namespace sire::data {
namespace {

// Groups the indices by label (ascending within a class), permutes each class with its own
// stream, and sends the first take(n_c) of each class to `drawn`.
IndexSplit stratified(const Dataset& data, uint64_t seed,
                      const std::function<int64_t(int, int64_t)>& take) {
  std::vector<std::vector<int64_t>> by_class(static_cast<size_t>(data.num_classes()));
  for (int64_t i = 0; i < data.size(); ++i)
    by_class[static_cast<size_t>(data.label(i))].push_back(i);
  IndexSplit out;
  for (int c = 0; c < data.num_classes(); ++c) {
    const std::vector<int64_t>& members = by_class[static_cast<size_t>(c)];
    const int64_t n = static_cast<int64_t>(members.size());
    const int64_t k = take(c, n);
    const std::vector<int64_t> perm = seeded_permutation(n, seed, kSplitStream + c);
    for (int64_t j = 0; j < n; ++j)
      (j < k ? out.drawn : out.kept).push_back(members[static_cast<size_t>(perm[j])]);
  }
  std::sort(out.kept.begin(), out.kept.end());
  std::sort(out.drawn.begin(), out.drawn.end());
  return out;
}

}  // namespace

std::vector<int64_t> seeded_permutation(int64_t n, uint64_t seed, uint64_t stream) {
  Generator g(seed);
  g.set_state(seed, stream);  // the next draw uses exactly this stream
  return g.permutation(n);
}

std::vector<int64_t> index_range(int64_t begin, int64_t end) {
  SIRE_CHECK(begin <= end, "index_range: begin ", begin, " > end ", end);
  std::vector<int64_t> v(static_cast<size_t>(end - begin));
  std::iota(v.begin(), v.end(), begin);
  return v;
}

IndexSplit stratified_split_count(const Dataset& data, int64_t per_class, uint64_t seed) {
  SIRE_CHECK(per_class >= 0, data.name(), ": cannot draw ", per_class, " samples per class");
  return stratified(data, seed, [&](int c, int64_t n) {
    SIRE_CHECK(n > per_class, data.name(), ": class ", c, " has ", n, " samples; drawing ",
               per_class, " per class needs at least ", per_class + 1);
    return per_class;
  });
}

IndexSplit stratified_split_percent(const Dataset& data, int percent, uint64_t seed) {
  SIRE_CHECK(percent >= 0 && percent <= 100, data.name(), ": split percentage ", percent,
             " outside [0, 100]");
  return stratified(data, seed, [&](int, int64_t n) { return n * percent / 100; });
}

}  // namespace sire::data
