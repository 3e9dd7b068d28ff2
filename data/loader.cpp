#include "data/loader.h"

#include <algorithm>

#include "data/splits.h"
#include "engine/error.h"

namespace sire::data {

DataLoader::DataLoader(DatasetPtr data, Transform transform, LoaderOptions options)
    : data_(std::move(data)), transform_(std::move(transform)), options_(options) {
  SIRE_CHECK(data_ != nullptr, "data loader: no dataset");
  SIRE_CHECK(data_->size() > 0, "data loader: ", data_->name(), " has no samples");
  SIRE_CHECK(options_.batch_size > 0, "data loader: batch size ", options_.batch_size,
             " must be positive");
  SIRE_CHECK(options_.workers >= 0, "data loader: ", options_.workers, " worker threads");
  SIRE_CHECK(options_.prefetch >= 1, "data loader: prefetch ", options_.prefetch,
             " must be at least 1");
  out_shape_ = transform_.output_shape(data_->sample_shape());
  SIRE_CHECK(batches_per_epoch() > 0, "data loader: ", data_->name(), " has ", data_->size(),
             " samples, fewer than one batch of ", options_.batch_size, " with drop_last");
}

DataLoader::~DataLoader() { stop_workers(); }

int64_t DataLoader::batches_per_epoch() const {
  const int64_t n = data_->size(), b = options_.batch_size;
  return options_.drop_last ? n / b : (n + b - 1) / b;
}

std::vector<int64_t> DataLoader::epoch_order(int64_t epoch) const {
  SIRE_CHECK(epoch >= 0, "data loader: negative epoch ", epoch);
  if (!options_.shuffle) return index_range(0, data_->size());
  return seeded_permutation(data_->size(), options_.seed,
                            kShuffleStream + static_cast<uint64_t>(epoch));
}

Batch DataLoader::build(const std::vector<int64_t>& order, int64_t epoch, int64_t b) const {
  const SampleShape in = data_->sample_shape();
  const int64_t begin = b * options_.batch_size;
  const int64_t end = std::min(begin + options_.batch_size, data_->size());
  const int64_t count = end - begin;
  Batch out;
  out.epoch = epoch;
  out.index = b;
  out.images = Tensor::empty({count, out_shape_.channels, out_shape_.height, out_shape_.width});
  out.labels = Tensor::empty({count}, DType::I32);
  out.indices.assign(order.begin() + begin, order.begin() + end);
  out.flipped.assign(static_cast<size_t>(count), 0);
  float* images = out.images.data<float>();
  int32_t* labels = out.labels.data<int32_t>();
  std::vector<uint8_t> pixels(static_cast<size_t>(in.numel()));
  for (int64_t k = 0; k < count; ++k) {
    if (stop_.load(std::memory_order_relaxed)) break;  // shutting down: the batch is dropped
    const int64_t index = out.indices[static_cast<size_t>(k)];
    data_->load(index, pixels.data(), &labels[k]);
    const bool flip =
        transform_.options().random_hflip && flip_decision(options_.seed, epoch, index);
    out.flipped[static_cast<size_t>(k)] = flip;
    transform_.apply(pixels.data(), in, flip, images + k * out_shape_.numel());
  }
  return out;
}

Batch DataLoader::make_batch(int64_t epoch, int64_t b) const {
  SIRE_CHECK(b >= 0 && b < batches_per_epoch(), "data loader: batch ", b, " out of range [0, ",
             batches_per_epoch(), ")");
  return build(epoch_order(epoch), epoch, b);
}

void DataLoader::start_epoch(int64_t epoch, int64_t first_batch) {
  SIRE_CHECK(epoch >= 0, "data loader: negative epoch ", epoch);
  SIRE_CHECK(first_batch >= 0 && first_batch <= batches_per_epoch(), "data loader: cannot start ",
             "epoch ", epoch, " at batch ", first_batch, ": an epoch has ", batches_per_epoch(),
             " batches");
  stop_workers();
  epoch_ = epoch;
  order_ = epoch_order(epoch);
  next_batch_ = claim_ = first_batch;
  end_batch_ = batches_per_epoch();
  const int64_t threads = std::min<int64_t>(options_.workers, end_batch_ - first_batch);
  for (int64_t t = 0; t < threads; ++t) threads_.emplace_back([this] { worker_loop(); });
}

void DataLoader::worker_loop() {
  // A window of prefetch batches, but at least one per worker, or some would idle.
  const int64_t window = std::max<int64_t>(options_.prefetch, options_.workers);
  for (;;) {
    int64_t b;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      changed_.wait(lock,
                    [&] { return stop_ || claim_ >= end_batch_ || claim_ < next_batch_ + window; });
      if (stop_ || claim_ >= end_batch_) return;
      b = claim_++;
    }
    Done done;
    try {
      done.batch = build(order_, epoch_, b);
    } catch (...) {
      done.error = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stop_) return;
      done_.emplace(b, std::move(done));
    }
    changed_.notify_all();
  }
}

bool DataLoader::next(Batch& batch) {
  SIRE_CHECK(epoch_ >= 0, "data loader: call start_epoch(epoch) before next()");
  if (next_batch_ >= end_batch_) return false;
  const int64_t b = next_batch_;
  Done done;
  if (threads_.empty()) {  // no workers: build it here
    ++next_batch_;
    try {
      done.batch = build(order_, epoch_, b);
    } catch (...) {
      done.error = std::current_exception();
    }
  } else {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      changed_.wait(lock, [&] { return done_.count(b) > 0; });
      auto it = done_.find(b);
      done = std::move(it->second);
      done_.erase(it);
      ++next_batch_;
    }
    changed_.notify_all();  // the window moved: a worker may claim another batch
  }
  if (done.error) {
    try {
      std::rethrow_exception(done.error);
    } catch (const std::exception& e) {
      SIRE_FAIL("data loader (", data_->name(), ", epoch ", epoch_, ", batch ", b, "): ", e.what());
    }
  }
  batch = std::move(done.batch);
  return true;
}

void DataLoader::stop_workers() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
  done_.clear();
  stop_ = false;
}

}  // namespace sire::data
