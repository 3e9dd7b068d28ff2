// `sire train` on the GPU, end to end, on generated images (tests/support/bar_images.h): the loss
// falls and accuracy rises far above chance; a run interrupted twice and resumed ends with the
// bits of the uninterrupted one (the CUDA kernels are deterministic: no float atomics, reductions
// in a fixed order). Part of test_cuda_ops (skipped without a GPU).
#include <catch2/catch.hpp>

#include "engine/io/safetensors.h"
#include "tests/support/bar_images.h"
#include "tests/support/data_files.h"
#include "train/trainer.h"

using namespace sire;
using namespace sire::testing;

TEST_CASE("training on the GPU learns, and resumes bit-identically", "[train]") {
  struct Restore {  // the trainer sets the math; put FP32 back even when a REQUIRE fails
    ~Restore() { set_gpu_math(GpuMath::kFP32); }
  } restore;
  TempDir tmp;
  write_bar_images(tmp.path(), 640, 200);
  for (GpuMath math : {GpuMath::kFP32, GpuMath::kTF32x3}) {
    INFO("math " << gpu_math_name(math));
    const std::string full_dir = tmp.file(std::string("full-") + gpu_math_name(math));
    const std::string split_dir = tmp.file(std::string("split-") + gpu_math_name(math));
    train::TrainOptions o = bar_training_options(tmp.path(), full_dir);
    o.device = Device::CUDA;
    o.math = math;
    const train::TrainResult full = train::train(o);
    REQUIRE(full.complete);
    const auto m = run_metrics(full_dir);
    REQUIRE(m.size() == 3);
    CHECK(m[2]["train"]["loss"].get<double>() < 0.7 * m[0]["train"]["loss"].get<double>());
    CHECK(m[2]["val"]["top1_err"].get<double>() < 40.0);  // chance: 90%
    CHECK(m[0].at("grad").at("conv1a.weight").get<double>() > 0);

    o.out_dir = split_dir;
    o.stop_after_batches = 7;
    CHECK_FALSE(train::train(o).complete);
    train::ResumeOptions ro;
    ro.progress = false;
    ro.stop_after_batches = 20;
    CHECK_FALSE(train::resume(split_dir, ro).complete);
    ro.stop_after_batches = -1;
    REQUIRE(train::resume(split_dir, ro).complete);
    CHECK(run_metrics(split_dir) == m);
    const io::TensorFile a = io::load_safetensors(full_dir + "/last.safetensors");
    const io::TensorFile b = io::load_safetensors(split_dir + "/last.safetensors");
    REQUIRE(a.tensors.size() == b.tensors.size());
    for (size_t i = 0; i < a.tensors.size(); ++i) {
      INFO(a.tensors[i].first);
      CHECK(a.tensors[i].second.to_vector() == b.tensors[i].second.to_vector());
    }
  }
}
