// The data loader: batches of (images f32 [B, C, H, W], labels i32 [B]) on the CPU, assembled
// by background threads while the caller trains on the previous batch.
//
// Determinism: the order of epoch e is a permutation that depends only on (seed, e), batch b is
// the samples order[b*B, (b+1)*B), and a sample's flip depends only on (seed, e, sample). So
// start_epoch(e, b) on a fresh loader yields exactly the batches b, b+1, ... that an uninterrupted
// run got, whatever the number of worker threads.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "data/dataset.h"
#include "data/transform.h"
#include "engine/tensor.h"

namespace sire::data {

struct LoaderOptions {
  int64_t batch_size = 64;
  bool shuffle = true;     // a fresh permutation every epoch; false: dataset order
  bool drop_last = false;  // drop a last batch smaller than batch_size
  uint64_t seed = 0;       // of the shuffles and the flips
  int workers = 1;         // background threads; 0 builds each batch in next(), on the caller
  int prefetch = 2;        // batches ready or being built ahead of the caller (at least workers)
};

struct Batch {
  Tensor images;                 // f32 [B, C, H, W], CPU
  Tensor labels;                 // i32 [B], CPU
  std::vector<int64_t> indices;  // the dataset index of each sample
  std::vector<uint8_t> flipped;  // 1 where the sample was mirrored
  int64_t epoch = -1, index = -1;
  int64_t size() const { return static_cast<int64_t>(indices.size()); }
};

class DataLoader {
 public:
  DataLoader(DatasetPtr data, Transform transform, LoaderOptions options);
  ~DataLoader();  // stops the workers (also mid-epoch) and waits for them
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  const Dataset& dataset() const { return *data_; }
  const LoaderOptions& options() const { return options_; }
  SampleShape output_shape() const { return out_shape_; }  // C, H, W of a batch's images
  int64_t batches_per_epoch() const;

  // The dataset indices in the order epoch `epoch` visits them.
  std::vector<int64_t> epoch_order(int64_t epoch) const;

  // Begins (or restarts) an epoch at batch first_batch, dropping whatever was prepared before.
  void start_epoch(int64_t epoch, int64_t first_batch = 0);
  // The next batch of the epoch, false at its end. A failure while building a batch (a corrupt
  // image, say) is thrown here, for that batch, with the loader's context and the original
  // message (which names the file); the caller may go on with the following batch.
  bool next(Batch& batch);

  // Builds batch `b` of `epoch` on the calling thread: what the workers run.
  Batch make_batch(int64_t epoch, int64_t b) const;

 private:
  Batch build(const std::vector<int64_t>& order, int64_t epoch, int64_t b) const;
  void stop_workers();
  void worker_loop();

  DatasetPtr data_;
  Transform transform_;
  LoaderOptions options_;
  SampleShape out_shape_;

  // The current epoch (workers read order_ only while it is not changed: start_epoch stops them
  // first).
  int64_t epoch_ = -1, next_batch_ = 0, end_batch_ = 0;
  std::vector<int64_t> order_;

  // Worker hand-off: workers claim batch numbers in increasing order, no further than prefetch
  // ahead of next_batch_, and file finished ones (or their exception) under their number.
  struct Done {
    Batch batch;
    std::exception_ptr error;
  };
  std::mutex mutex_;
  std::condition_variable changed_;
  std::atomic<bool> stop_{false};
  int64_t claim_ = 0;
  std::map<int64_t, Done> done_;
  std::vector<std::thread> threads_;
};

}  // namespace sire::data
