// Transforms (normalization, flips, padding) and the loader (shuffles that depend only on seed
// and epoch, resuming mid-epoch, background threads, errors, shutdown).
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <mutex>
#include <set>
#include <thread>

#include "data/loader.h"
#include "data/splits.h"
#include "data/transform.h"
#include "engine/error.h"
#include "tests/support/data_files.h"

using namespace sire;
using namespace sire::data;
using Catch::Contains;

namespace {

// 103 samples of 1x1x3: pixels (i % 251, i / 251, 200), label i % 10. The third pixel shows a
// flip; the first two say which sample it is.
std::shared_ptr<InMemoryDataset> numbered(int64_t n = 103) {
  std::vector<uint8_t> px;
  std::vector<int32_t> labels;
  for (int64_t i = 0; i < n; ++i) {
    px.insert(px.end(), {uint8_t(i % 251), uint8_t(i / 251), 200});
    labels.push_back(static_cast<int32_t>(i % 10));
  }
  return std::make_shared<InMemoryDataset>("numbered", SampleShape{1, 1, 3}, px, labels, 10);
}

// A dataset that runs a hook before each load (to fail, to record threads, to be slow).
class Hooked final : public Dataset {
 public:
  Hooked(DatasetPtr base, std::function<void(int64_t)> hook)
      : base_(std::move(base)), hook_(std::move(hook)) {}
  int64_t size() const override { return base_->size(); }
  SampleShape sample_shape() const override { return base_->sample_shape(); }
  int num_classes() const override { return base_->num_classes(); }
  const std::vector<std::string>& class_names() const override { return base_->class_names(); }
  int32_t label(int64_t i) const override { return base_->label(i); }
  void load(int64_t i, uint8_t* out, int32_t* label) const override {
    hook_(i);
    base_->load(i, out, label);
  }
  const std::string& name() const override { return base_->name(); }

 private:
  DatasetPtr base_;
  std::function<void(int64_t)> hook_;
};

// Which sample each row of a batch holds, read back from its pixels (no normalization).
std::vector<int64_t> decode(const Batch& b) {
  std::vector<int64_t> ids;
  const float* x = b.images.data<float>();
  for (int64_t k = 0; k < b.size(); ++k) {
    const float* s = x + 3 * k;
    const bool flipped = b.flipped[static_cast<size_t>(k)];
    const float lo = flipped ? s[2] : s[0], third = flipped ? s[0] : s[2];
    CHECK(third == Approx(200.0 / 255));
    ids.push_back(std::lround(lo * 255) + 251 * std::lround(s[1] * 255));
  }
  return ids;
}

std::vector<Batch> run_epoch(DataLoader& loader, int64_t epoch, int64_t first = 0) {
  loader.start_epoch(epoch, first);
  std::vector<Batch> out;
  Batch b;
  while (loader.next(b)) out.push_back(b);
  return out;
}

void check_same(const Batch& a, const Batch& b) {
  CHECK(a.index == b.index);
  CHECK(a.indices == b.indices);
  CHECK(a.flipped == b.flipped);
  CHECK(a.images.to_vector() == b.images.to_vector());
  CHECK(a.labels.to_vector() == b.labels.to_vector());
}

LoaderOptions opts(int workers, bool drop_last = false, uint64_t seed = 1) {
  LoaderOptions o;
  o.batch_size = 10;
  o.workers = workers;
  o.drop_last = drop_last;
  o.seed = seed;
  return o;
}

Transform flips() {
  TransformOptions t;
  t.random_hflip = true;
  return Transform(t);
}

}  // namespace

TEST_CASE("transforms: scale, per-channel normalization", "[data][transform]") {
  const std::vector<uint8_t> px{0, 51, 255, 102, 10, 20, 30, 40};  // 2 channels of 2x2
  std::vector<float> out(8);
  Transform().apply(px.data(), SampleShape{2, 2, 2}, false, out.data());
  for (int i = 0; i < 8; ++i) CHECK(out[i] == Approx(px[i] / 255.0));
  Transform norm(TransformOptions{{0.5f, 0.1f}, {0.25f, 2.0f}});
  norm.apply(px.data(), SampleShape{2, 2, 2}, false, out.data());
  for (int i = 0; i < 8; ++i) {
    const double mean = i < 4 ? 0.5 : 0.1, sd = i < 4 ? 0.25 : 2.0;
    CHECK(out[i] == Approx((px[i] / 255.0 - mean) / sd).epsilon(1e-6));
  }
  CHECK_THROWS_WITH(norm.output_shape(SampleShape{3, 2, 2}),
                    Contains("2 channel means for samples of 3x2x2"));
  CHECK_THROWS_WITH(Transform(TransformOptions{{0.5f}, {0.0f}}),
                    Contains("standard deviation 0 must be > 0"));
}

TEST_CASE("transforms: 28 -> 32 padding and flips", "[data][transform]") {
  std::vector<uint8_t> px(28 * 28);
  for (size_t j = 0; j < px.size(); ++j) px[j] = testing::test_pixel(3, static_cast<int64_t>(j));
  TransformOptions o{{0.2860f}, {0.3530f}, false, 2, PadValue::Black};
  Transform black(o);
  REQUIRE(black.output_shape(SampleShape{1, 28, 28}) == SampleShape{1, 32, 32});
  std::vector<float> out(32 * 32), flipped(32 * 32);
  black.apply(px.data(), SampleShape{1, 28, 28}, false, out.data());
  black.apply(px.data(), SampleShape{1, 28, 28}, true, flipped.data());
  const float border = (0 - 0.2860f) / 0.3530f;  // a black pixel, normalized
  for (int y = 0; y < 32; ++y)
    for (int x = 0; x < 32; ++x) {
      const bool inside = y >= 2 && y < 30 && x >= 2 && x < 30;
      const float v = out[y * 32 + x], f = flipped[y * 32 + x];
      if (!inside) {
        REQUIRE(v == Approx(border));
        REQUIRE(f == Approx(border));
        continue;
      }
      REQUIRE(v == Approx((px[(y - 2) * 28 + (x - 2)] / 255.0 - 0.2860) / 0.3530).epsilon(1e-5));
      REQUIRE(f == out[y * 32 + (31 - x)]);  // mirrored left-right
    }
  o.pad_value = PadValue::Zero;
  Transform(o).apply(px.data(), SampleShape{1, 28, 28}, false, out.data());
  CHECK(out[0] == 0.0f);
  CHECK(out[31 * 32 + 31] == 0.0f);
  CHECK(out[2 * 32 + 2] == Approx((px[0] / 255.0 - 0.2860) / 0.3530).epsilon(1e-5));
}

TEST_CASE("flips depend only on (seed, epoch, sample), about half of them", "[data][transform]") {
  int flipped = 0, same_next_epoch = 0;
  for (int64_t i = 0; i < 20000; ++i) {
    const bool f = flip_decision(7, 3, i);
    CHECK(f == flip_decision(7, 3, i));
    flipped += f;
    same_next_epoch += f == flip_decision(7, 4, i);
  }
  CHECK(flipped > 9700);
  CHECK(flipped < 10300);
  CHECK(same_next_epoch > 9700);  // epochs draw independently: ~half agree
  CHECK(same_next_epoch < 10300);
}

TEST_CASE("channel statistics", "[data][transform]") {
  InMemoryDataset d("d", SampleShape{1, 1, 2}, {0, 255, 255, 255}, {0, 1}, 2);
  ChannelStats all = compute_channel_stats(d);
  CHECK(all.mean[0] == Approx(0.75));
  CHECK(all.std[0] == Approx(std::sqrt(0.75 * 0.25)));
  ChannelStats first = compute_channel_stats(d, 1);
  CHECK(first.mean[0] == Approx(0.5));
  CHECK(first.std[0] == Approx(0.5));
}

TEST_CASE("loader: every sample once per epoch, order set by (seed, epoch)", "[data][loader]") {
  auto data = numbered();
  DataLoader loader(data, flips(), opts(2));
  REQUIRE(loader.batches_per_epoch() == 11);
  std::vector<Batch> e0 = run_epoch(loader, 0);
  REQUIRE(e0.size() == 11);
  CHECK(e0.back().size() == 3);
  std::vector<int64_t> seen;
  for (const Batch& b : e0) {
    CHECK(b.images.shape() == Shape{b.size(), 1, 1, 3});
    CHECK(b.labels.dtype() == DType::I32);
    CHECK(decode(b) == b.indices);
    for (int64_t k = 0; k < b.size(); ++k)
      CHECK(b.labels.data<int32_t>()[k] == b.indices[static_cast<size_t>(k)] % 10);
    seen.insert(seen.end(), b.indices.begin(), b.indices.end());
  }
  CHECK(seen == loader.epoch_order(0));
  std::vector<int64_t> sorted = seen;
  std::sort(sorted.begin(), sorted.end());
  CHECK(sorted == index_range(0, 103));
  CHECK(seen != sorted);  // shuffled

  DataLoader twin(data, flips(), opts(0));
  CHECK(twin.epoch_order(0) == loader.epoch_order(0));
  CHECK(loader.epoch_order(1) != loader.epoch_order(0));
  DataLoader other_seed(data, flips(), opts(1, false, 2));
  CHECK(other_seed.epoch_order(0) != loader.epoch_order(0));

  DataLoader dropping(data, Transform(), opts(1, true));
  CHECK(dropping.batches_per_epoch() == 10);
  std::vector<Batch> d = run_epoch(dropping, 0);
  REQUIRE(d.size() == 10);
  for (const Batch& b : d) CHECK(b.size() == 10);
  LoaderOptions ordered = opts(1);
  ordered.shuffle = false;
  CHECK(DataLoader(data, Transform(), ordered).epoch_order(5) == index_range(0, 103));
}

TEST_CASE("loader: resuming at a batch gives the remaining batches, any worker count",
          "[data][loader]") {
  auto data = numbered();
  DataLoader full(data, flips(), opts(2));
  std::vector<Batch> whole = run_epoch(full, 3);
  int flips_seen = 0;
  for (const Batch& b : whole) flips_seen += std::count(b.flipped.begin(), b.flipped.end(), 1);
  CHECK(flips_seen > 20);  // flips happen (about half of 103)
  CHECK(flips_seen < 83);
  for (int workers : {0, 1, 3}) {
    DataLoader resumed(data, flips(), opts(workers));
    std::vector<Batch> rest = run_epoch(resumed, 3, 6);
    REQUIRE(rest.size() == 5);
    for (size_t i = 0; i < rest.size(); ++i) check_same(rest[i], whole[6 + i]);
    check_same(resumed.make_batch(3, 2), whole[2]);
  }
  DataLoader at_end(data, flips(), opts(1));
  CHECK(run_epoch(at_end, 3, 11).empty());
  CHECK_THROWS_WITH(at_end.start_epoch(3, 12), Contains("an epoch has 11 batches"));
}

TEST_CASE("loader: batches are built on a background thread", "[data][loader]") {
  std::mutex m;
  std::set<std::thread::id> threads;
  auto data = std::make_shared<Hooked>(numbered(), [&](int64_t) {
    std::lock_guard<std::mutex> lock(m);
    threads.insert(std::this_thread::get_id());
  });
  DataLoader background(data, Transform(), opts(1));
  CHECK(run_epoch(background, 0).size() == 11);
  CHECK(threads.size() == 1);
  CHECK(threads.count(std::this_thread::get_id()) == 0);
  threads.clear();
  DataLoader inline_loader(data, Transform(), opts(0));
  CHECK(run_epoch(inline_loader, 0).size() == 11);
  CHECK(threads == std::set<std::thread::id>{std::this_thread::get_id()});
}

TEST_CASE("loader: a worker's error reaches the caller with the file name", "[data][loader]") {
  auto data = std::make_shared<Hooked>(numbered(), [](int64_t i) {
    if (i == 42) SIRE_FAIL("cats/broken.png: cannot decode image: bad huffman code");
  });
  for (int workers : {0, 2}) {
    LoaderOptions o = opts(workers);
    o.shuffle = false;  // sample 42 is in batch 4
    DataLoader loader(data, Transform(), o);
    loader.start_epoch(0);
    Batch b;
    for (int i = 0; i < 4; ++i) REQUIRE(loader.next(b));
    CHECK_THROWS_WITH(loader.next(b), Contains("cats/broken.png: cannot decode image") &&
                                          Contains("epoch 0, batch 4"));
    REQUIRE(loader.next(b));  // the caller may go on
    CHECK(b.index == 5);
  }
  DataLoader fresh(numbered(), Transform(), opts(1));
  Batch b;
  CHECK_THROWS_WITH(fresh.next(b), Contains("call start_epoch"));
}

TEST_CASE("loader: clean shutdown and restart mid-epoch", "[data][loader]") {
  auto slow = std::make_shared<Hooked>(
      numbered(), [](int64_t) { std::this_thread::sleep_for(std::chrono::milliseconds(1)); });
  const auto start = std::chrono::steady_clock::now();
  {
    DataLoader loader(slow, flips(), opts(3));
    loader.start_epoch(0);
    Batch b;
    REQUIRE(loader.next(b));
    loader.start_epoch(1, 2);  // restart while workers are busy
    REQUIRE(loader.next(b));
    CHECK(b.epoch == 1);
    CHECK(b.index == 2);
    DataLoader reference(numbered(), flips(), opts(0));
    check_same(b, reference.make_batch(1, 2));
  }  // destroyed mid-epoch: workers stop and join
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
}
