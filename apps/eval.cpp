// `sire eval`: the top-1 and top-5 error of a checkpoint on a split of a dataset.
#include <cstdio>
#include <iostream>

#include "apps/args.h"
#include "apps/commands.h"
#include "data/datasets.h"
#include "engine/backend.h"
#include "train/checkpoint.h"
#include "train/evaluate.h"

namespace sire::app {

int run_eval(const std::vector<std::string>& argv) {
  Args args("eval", "Top-1 and top-5 error of a checkpoint on a dataset split.");
  args.option("checkpoint", "a best.safetensors or last.safetensors of `sire train`")
      .option("data", "the dataset folder", "/usr/share/datasets/fashion-mnist")
      .option("dataset", "the dataset's name, or auto", "auto")
      .option("split", "test, val or train", "test")
      .option("split-seed", "seed of the stratified splits (as in training)", "0")
      .option("device", "cpu or cuda", "cpu")
      .option("math",
              "GPU math: fp32, tf32 (tensor cores) or 3xtf32 (tensor cores, FP32's accuracy)",
              "fp32")
      .option("threads", "CPU threads (0: all cores)", "0")
      .option("workers", "data-loading threads", "2")
      .flag("json", "print a JSON object");
  if (!args.parse(argv)) {
    std::cout << args.usage();
    return 0;
  }
  SIRE_CHECK(args.has("checkpoint"), "sire eval: --checkpoint is required\n\n", args.usage());
  set_cpu_threads(static_cast<int>(args.get_int("threads")));
  const std::string path = args.get("checkpoint");
  const train::Checkpoint c = train::read_checkpoint(path);
  SIRE_CHECK(c.extra.count("data"), path, ": no data transform in its metadata");
  models::Model model = train::model_from_metadata(c.model, path);
  const Device device = parse_device(args.get("device"));
  set_gpu_math(math_option(args, device));
  model.net().to(device);
  train::load_model_state(model, c.file);

  data::SplitOptions so;
  so.seed = static_cast<uint64_t>(args.get_int("split-seed"));
  const data::DatasetSplits splits = data::dataset_from_dir(args.get("dataset"), args.get("data"), so);
  const std::string split = args.get("split");
  const data::DatasetPtr d = splits.get(split);
  const train::Evaluation e = train::evaluate(model, d, train::eval_transform(c), device,
                                              static_cast<int>(args.get_int("workers")));
  if (args.get_flag("json")) {
    std::cout << nlohmann::json{{"checkpoint", path}, {"model", model.spec().name},
                                {"dataset", splits.name}, {"split", split},
                                {"images", e.top.count}, {"ce", e.ce},
                                {"top1_err", e.top.error1()}, {"top5_err", e.top.error5()}}
                     .dump(2)
              << "\n";
  } else {
    std::printf("%s on %s %s (%lld images): top-1 error %.2f%%, top-5 error %.2f%%\n",
                model.spec().name.c_str(), splits.name.c_str(), split.c_str(),
                static_cast<long long>(e.top.count), e.top.error1(), e.top.error5());
  }
  return 0;
}

}  // namespace sire::app
