// End-to-end training on generated data: the loss falls and accuracy rises well above chance;
// an interrupted run resumes to bit-identical results; checkpoints round-trip; a NaN loss stops
// the run and keeps the last good checkpoint.
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "engine/io/safetensors.h"
#include "engine/random.h"
#include "tests/support/bar_images.h"
#include "tests/support/data_files.h"
#include "train/checkpoint.h"
#include "train/evaluate.h"
#include "data/datasets.h"
#include "train/trainer.h"

using namespace sire;
using namespace sire::testing;
using json = nlohmann::json;

TEST_CASE("training on generated images learns, and resumes bit-identically", "[train]") {
  TempDir tmp;
  write_bar_images(tmp.path(), 640, 200);

  const train::TrainResult full = train::train(bar_training_options(tmp.path(), tmp.file("full")));
  REQUIRE(full.complete);
  const auto m = run_metrics(tmp.file("full"));
  REQUIRE(m.size() == 3);
  CHECK(m[2]["train"]["loss"].get<double>() < 0.7 * m[0]["train"]["loss"].get<double>());
  CHECK(m[2]["val"]["top1_err"].get<double>() < 40.0);  // chance: 90%
  CHECK(full.test_top1 < 40.0);
  CHECK(m[0]["train"]["mse"].contains("ae1"));
  CHECK(m[0]["grad"].contains("conv1a.weight"));
  CHECK(m[0]["grad"]["conv1a.weight"].get<double>() > 0);
  {  // "grad" lists the weights in network order: the x axis of the gradient-flow plot
    std::ifstream in(tmp.file("full") + "/metrics.jsonl");
    std::string line;
    std::getline(in, line);
    std::vector<std::string> names;
    const nlohmann::ordered_json first = nlohmann::ordered_json::parse(line);
    for (const auto& item : first.at("grad").items()) names.push_back(item.key());
    REQUIRE(names.size() == 10);  // 4 encoder convolutions, 4 + 2 in the decoders
    CHECK(std::vector<std::string>(names.begin(), names.begin() + 4) ==
          std::vector<std::string>{"conv1a.weight", "conv1b.weight", "conv2a.weight", "conv2b.weight"});
  }

  // Interrupted mid-epoch twice, resumed each time: the same bits in the end.
  train::TrainOptions o = bar_training_options(tmp.path(), tmp.file("split"));
  o.stop_after_batches = 7;  // epoch 1 of 15 batches: stops inside it
  CHECK_FALSE(train::train(o).complete);
  train::ResumeOptions ro;
  ro.progress = false;
  ro.stop_after_batches = 20;  // into epoch 2
  CHECK_FALSE(train::resume(tmp.file("split"), ro).complete);
  // A crash while an epoch's line was being written leaves half a line: the resume drops it.
  std::ofstream(tmp.file("split") + "/metrics.jsonl", std::ios::app)
      << R"({"epoch": 2, "train": {"lo)";
  // A crash while a checkpoint was being written leaves its temporary (NAME.tmp.PID): the resume
  // removes it once that process is gone, and keeps a live process's (here the parent's) and
  // other files.
  const std::string stale = tmp.file("split") + "/last.safetensors.tmp.2147483646";
  const std::string live =
      tmp.file("split") + "/best.safetensors.tmp." + std::to_string(::getppid());
  const std::string other = tmp.file("split") + "/notes.tmp.x1";
  for (const std::string& f : {stale, live, other}) std::ofstream(f) << "partial";
  ro.stop_after_batches = -1;
  const train::TrainResult resumed = train::resume(tmp.file("split"), ro);
  CHECK_FALSE(std::filesystem::exists(stale));
  CHECK(std::filesystem::exists(live));
  CHECK(std::filesystem::exists(other));
  REQUIRE(resumed.complete);
  CHECK(resumed.best_epoch == full.best_epoch);
  CHECK(resumed.test_top1 == full.test_top1);
  CHECK(run_metrics(tmp.file("split")) == m);
  const io::TensorFile a = io::load_safetensors(tmp.file("full") + "/last.safetensors");
  const io::TensorFile b = io::load_safetensors(tmp.file("split") + "/last.safetensors");
  REQUIRE(a.tensors.size() == b.tensors.size());
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    INFO(a.tensors[i].first);
    CHECK(a.tensors[i].first == b.tensors[i].first);
    CHECK(a.tensors[i].second.to_vector() == b.tensors[i].second.to_vector());
  }

  // The best checkpoint round-trips: rebuilt from its own metadata, it scores what the run said.
  const train::Checkpoint best = train::read_checkpoint(tmp.file("full") + "/best.safetensors");
  models::Model model = train::model_from_metadata(best.model, "best");
  train::load_model_state(model, best.file);
  data::SplitOptions so;
  so.val_size = 160;
  const data::DatasetSplits splits = data::dataset_from_dir("mnist", tmp.path(), so);
  const train::Evaluation e =
      train::evaluate(model, splits.test, train::eval_transform(best), Device::CPU, 1);
  CHECK(e.top.error1() == full.test_top1);
}

TEST_CASE("gradient clipping is recorded, logged each epoch, and resumes bit-identically",
          "[train]") {
  TempDir tmp;
  write_bar_images(tmp.path(), 320, 64);
  train::TrainOptions o = bar_training_options(tmp.path(), tmp.file("clip"));
  o.protocol.epochs = 2;
  o.protocol.clip_grad_norm = 0.05;  // below the bar task's gradient norms: every step clipped
  const train::TrainResult full = train::train(o);
  REQUIRE(full.complete);
  const auto m = run_metrics(tmp.file("clip"));
  REQUIRE(m.size() == 2);
  for (const auto& line : m) {
    REQUIRE(line.contains("clip"));
    CHECK(line["clip"]["max_norm"].get<double>() == 0.05);
    CHECK(line["clip"]["clipped_steps"].get<int>() > 0);
    CHECK(line["clip"]["largest_norm"].get<double>() >= line["clip"]["mean_norm"].get<double>());
    CHECK(line["clip"]["mean_norm"].get<double>() > 0.05);
  }
  json config;
  std::ifstream(tmp.file("clip") + "/config.json") >> config;
  CHECK(config["protocol"]["clip_grad_norm"].get<double>() == 0.05);

  // Interrupted and resumed: the same bits, the clipping included.
  train::TrainOptions split = o;
  split.out_dir = tmp.file("clip-split");
  split.stop_after_batches = 3;
  CHECK_FALSE(train::train(split).complete);
  train::ResumeOptions ro;
  ro.progress = false;
  REQUIRE(train::resume(tmp.file("clip-split"), ro).complete);
  CHECK(run_metrics(tmp.file("clip-split")) == m);

  // Clipping changed the course: the unclipped run ends elsewhere, and logs no "clip".
  train::TrainOptions plain = o;
  plain.out_dir = tmp.file("plain");
  plain.protocol.clip_grad_norm = 0;
  REQUIRE(train::train(plain).complete);
  const auto mp = run_metrics(tmp.file("plain"));
  CHECK_FALSE(mp[0].contains("clip"));
  CHECK(mp[1]["train"]["loss"] != m[1]["train"]["loss"]);

  train::TrainOptions bad = o;
  bad.out_dir = tmp.file("bad");
  bad.protocol.clip_grad_norm = -1;
  CHECK_THROWS_WITH(train::train(bad),
                    Catch::Contains("clip_grad_norm must be a finite number >= 0"));
}

namespace {
// The message of the error a diverging run must stop with (empty, and the test fails, if none).
std::string divergence_message(const train::TrainOptions& o) {
  try {
    train::train(o);
  } catch (const Error& err) {
    return err.what();
  }
  FAIL("the run did not stop");
  return "";
}
}  // namespace

TEST_CASE("a NaN loss stops the run and keeps the last good checkpoint", "[train]") {
  TempDir tmp;
  write_bar_images(tmp.path(), 320, 64);
  train::TrainOptions o = bar_training_options(tmp.path(), tmp.file("nan"));
  o.protocol.epochs = 3;
  o.protocol.milestones = {1};
  o.protocol.gamma = 1e30;  // epoch 2 runs at lr 5e28: the weights blow up
  const std::string msg = divergence_message(o);
  CHECK(msg.find("the loss became") != std::string::npos);
  CHECK(msg.find("epoch 2") != std::string::npos);
  CHECK(msg.find("The last good state is kept, untouched, in") != std::string::npos);
  CHECK(msg.find("last.safetensors") != std::string::npos);
  const train::Checkpoint last = train::read_checkpoint(tmp.file("nan") + "/last.safetensors");
  CHECK(last.extra.at("progress").at("epoch").get<int>() == 1);  // the end of epoch 1
  for (const auto& [name, t] : last.file.tensors)
    for (double v : t.to_vector()) REQUIRE(std::isfinite(v));
}

TEST_CASE("a loss that diverges in the first epoch says no checkpoint exists yet", "[train]") {
  TempDir tmp;
  write_bar_images(tmp.path(), 320, 64);
  train::TrainOptions o = bar_training_options(tmp.path(), tmp.file("early"));
  o.protocol.lr = 1e30;  // the first update blows the weights up
  const std::string msg = divergence_message(o);
  CHECK(msg.find("the loss became") != std::string::npos);
  CHECK(msg.find("epoch 1") != std::string::npos);
  CHECK(msg.find("No checkpoint was written yet") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(tmp.file("early") + "/last.safetensors"));
}

TEST_CASE("the GPU math is recorded in the run's config; TF32 on the CPU is refused", "[train]") {
  TempDir tmp;
  write_bar_images(tmp.path(), 320, 64);
  train::TrainOptions o = bar_training_options(tmp.path(), tmp.file("math"));
  o.math = GpuMath::kTF32;
  try {
    train::train(o);
    FAIL("TF32 on the CPU was accepted");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("math tf32 is for device cuda") != std::string::npos);
  }
  o.math = GpuMath::kFP32;
  o.protocol.epochs = 1;
  REQUIRE(train::train(o).complete);
  std::ifstream in(tmp.file("math") + "/config.json");
  CHECK(nlohmann::json::parse(in).at("math") == "fp32");
}

TEST_CASE("checkpoints are validated when read", "[train]") {
  TempDir tmp;
  const std::string p = tmp.file("x.safetensors");
  io::save_safetensors(p, {{"w", Tensor::full({2, 3}, 1.5)}}, {{"k", "v"}});
  const io::TensorFile f = io::load_safetensors(p);
  CHECK(f.get("w").to_vector() == std::vector<double>(6, 1.5));
  CHECK(f.metadata.at("k") == "v");
  CHECK_THROWS_WITH(train::read_checkpoint(p), Catch::Contains("not a sire checkpoint"));
  // Truncated: the tensor's bytes end early.
  std::ifstream in(p, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  write_file(tmp.file("cut.safetensors"), std::vector<uint8_t>(bytes.begin(), bytes.end() - 5));
  CHECK_THROWS_WITH(io::load_safetensors(tmp.file("cut.safetensors")),
                    Catch::Contains("cut.safetensors") && Catch::Contains("truncated"));
  write_file(tmp.file("tiny.safetensors"), {1, 2, 3});
  CHECK_THROWS_WITH(io::load_safetensors(tmp.file("tiny.safetensors")), Catch::Contains("truncated"));
}
