// `sire train`: train a model file on a dataset by one of the paper's protocols.
#include <csignal>
#include <cstdio>
#include <iostream>

#include "apps/args.h"
#include "apps/commands.h"
#include "engine/backend.h"
#include "train/trainer.h"

namespace sire::app {
namespace {

// First Ctrl-C: save after the current batch and stop; a second one stops at once.
void on_interrupt(int) {
  if (train::stop_requested()) {
    std::signal(SIGINT, SIG_DFL);
    std::raise(SIGINT);
  }
  train::request_stop();
}

std::string base_name(const std::string& path) {
  std::string b = path.substr(path.find_last_of('/') + 1);
  const auto dot = b.find_last_of('.');
  return dot == std::string::npos ? b : b.substr(0, dot);
}

}  // namespace

int run_train(const std::vector<std::string>& argv) {
  Args args("train", "Train a model on a dataset by one of the paper's protocols.");
  args.option("model", "the model file (models/*.json)")
      .option("data", "the dataset folder", "/usr/share/datasets/fashion-mnist")
      .option("dataset", "mnist, fashion-mnist, cifar10, cifar100, caltech256, or auto", "auto")
      .option("protocol", "paper-mnist, paper-cifar or paper-caltech", "paper-mnist")
      .option("epochs", "override the protocol's epochs")
      .option("batch", "override the protocol's batch size")
      .option("lr", "override the protocol's learning rate")
      .option("lambda", "override the model's reconstruction weight")
      .option("clip-grad-norm",
              "scale the gradients to this global L2 norm when it is exceeded (0: off, the "
              "protocols' default; not in the paper)")
      .option("train-images", "train on the first N images of the training split")
      .option("decoder-init", "decoder initialization: fan_in or pytorch")
      .option("seed", "seed of the weights, dropout, shuffles and flips", "0")
      .option("split-seed", "seed of the stratified splits (CIFAR validation, Caltech)", "0")
      .option("val-size", "images held out for validation (0: none; default: the dataset's)")
      .option("threads", "CPU threads (0: all cores)", "0")
      .option("workers", "data-loading threads", "2")
      .option("device", "cpu or cuda", "cpu")
      .option("math",
              "GPU math: fp32, tf32 (tensor cores) or 3xtf32 (tensor cores, FP32's accuracy)",
              "fp32")
      .option("out", "the run folder (default: runs/MODEL-DATASET-sSEED)")
      .option("resume", "continue the run in this folder from its last checkpoint")
      .flag("no-flip", "no random horizontal flips")
      .flag("quiet", "no progress line");
  if (!args.parse(argv)) {
    std::cout << args.usage();
    return 0;
  }
  set_cpu_threads(static_cast<int>(args.get_int("threads")));
  std::signal(SIGINT, on_interrupt);

  train::TrainResult r;
  if (args.has("resume")) {
    train::ResumeOptions ro;
    if (args.has("device")) ro.device = parse_device(args.get("device"));
    if (args.has("math")) ro.math = parse_gpu_math(args.get("math"));
    if (args.has("workers")) ro.workers = static_cast<int>(args.get_int("workers"));
    ro.progress = !args.get_flag("quiet");
    r = train::resume(args.get("resume"), ro);
  } else {
    SIRE_CHECK(args.has("model"), "sire train: --model is required\n\n", args.usage());
    train::TrainOptions o;
    o.model_path = args.get("model");
    o.data_dir = args.get("data");
    o.dataset = args.get("dataset");
    o.protocol = train::protocol_named(args.get("protocol"));
    if (auto v = args.maybe_int("epochs")) o.protocol.epochs = static_cast<int>(*v);
    if (auto v = args.maybe_int("batch")) o.protocol.batch = *v;
    if (auto v = args.maybe_double("lr")) o.protocol.lr = *v;
    if (auto v = args.maybe_double("clip-grad-norm")) o.protocol.clip_grad_norm = *v;
    if (auto v = args.maybe_int("train-images")) o.protocol.train_images = *v;
    if (args.get_flag("no-flip")) o.protocol.hflip = false;
    o.lambda = args.maybe_double("lambda");
    if (args.has("decoder-init")) o.decoder_init = args.get("decoder-init");
    o.seed = static_cast<uint64_t>(args.get_int("seed"));
    o.split_seed = static_cast<uint64_t>(args.get_int("split-seed"));
    if (auto v = args.maybe_int("val-size")) o.val_size = *v;
    o.device = parse_device(args.get("device"));
    o.math = math_option(args, o.device);
    o.workers = static_cast<int>(args.get_int("workers"));
    o.progress = !args.get_flag("quiet");
    o.out_dir = args.has("out") ? args.get("out")
                                : str("runs/", base_name(o.model_path), "-", base_name(o.data_dir),
                                      "-s", o.seed);
    r = train::train(o);
  }
  if (!r.complete) return 130;
  std::printf("%s: best epoch %d (selection top-1 error %.2f%%)", r.out_dir.c_str(), r.best_epoch,
              r.best_metric);
  if (r.test_top1 >= 0) std::printf("; test top-1 error %.2f%%, top-5 error %.2f%%", r.test_top1, r.test_top5);
  std::printf("\n");
  return 0;
}

}  // namespace sire::app
