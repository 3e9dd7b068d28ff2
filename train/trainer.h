// `sire train`: trains a model file on a dataset by a protocol, with a progress line, one JSON
// line of metrics per epoch, atomic checkpoints, exact resumption, and the test error of the
// best epoch's weights at the end.
//
// A run's folder holds:
//   config.json        what was asked (after defaults and overrides)
//   metrics.jsonl      one line per finished epoch
//   last.safetensors   the latest state (weights, optimizer, progress): what --resume reads
//   best.safetensors   the weights of the best epoch so far (what `sire eval` takes)
//   result.json        the best epoch and its test error, when the run is complete
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "engine/device.h"
#include "train/protocol.h"

namespace sire::train {

struct TrainOptions {
  std::string model_path;
  std::string data_dir;
  std::string dataset = "auto";     // or mnist, fashion-mnist, cifar10, cifar100, caltech256
  Protocol protocol;
  std::optional<double> lambda;     // overrides the model file's sire.lambda
  std::optional<std::string> decoder_init;
  uint64_t seed = 0;                // weights, dropout, shuffling and flips
  uint64_t split_seed = 0;          // the stratified splits (CIFAR validation, Caltech)
  int64_t val_size = -1;            // -1: the protocol's validation split; 0: none
  Device device = Device::CPU;
  GpuMath math = GpuMath::kFP32;  // convolutions and dense layers on the GPU
  std::string out_dir;
  int workers = 2;                  // data-loading threads
  bool progress = true;             // the progress line on stderr
  int64_t stop_after_batches = -1;  // stop as if interrupted after this many batches (tests)
};

struct TrainResult {
  bool complete = false;   // false: stopped early, the state is in last.safetensors
  int epochs_done = 0;
  int best_epoch = 0;      // 1-based
  double best_metric = 0;  // the selection metric (top-1 error, %)
  double test_top1 = -1, test_top5 = -1;
  std::string out_dir;
};

TrainResult train(const TrainOptions& options);

// Continues the run in `out_dir` from last.safetensors; only these may change on resumption.
struct ResumeOptions {
  std::optional<Device> device;
  std::optional<GpuMath> math;
  std::optional<int> workers;
  std::optional<bool> progress;
  int64_t stop_after_batches = -1;
};
TrainResult resume(const std::string& out_dir, const ResumeOptions& options = {});

// Interruption (Ctrl-C): the run saves its state after the current batch and returns.
void request_stop();
bool stop_requested();
void clear_stop();

}  // namespace sire::train
