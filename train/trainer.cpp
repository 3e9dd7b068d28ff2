#include "train/trainer.h"

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "data/datasets.h"
#include "data/loader.h"
#include "engine/autograd/node.h"
#include "engine/backend.h"
#include "engine/io/safetensors.h"
#include "engine/optim/clip.h"
#include "engine/optim/schedule.h"
#include "engine/random.h"
#include "train/checkpoint.h"
#include "train/evaluate.h"
#include "train/metrics.h"
#include "train/progress.h"

namespace sire::train {
namespace {

std::atomic<bool> g_stop{false};

json options_json(const TrainOptions& o) {
  json j = {{"model", o.model_path},
            {"data", o.data_dir},
            {"dataset", o.dataset},
            {"protocol", protocol_json(o.protocol)},
            {"seed", o.seed},
            {"split_seed", o.split_seed},
            {"val_size", o.val_size},
            {"device", device_name(o.device)},
            {"math", gpu_math_name(o.math)},
            {"out", o.out_dir}};
  if (o.lambda) j["lambda"] = *o.lambda;
  if (o.decoder_init) j["decoder_init"] = *o.decoder_init;
  return j;
}

TrainOptions options_from_json(const json& j) {
  TrainOptions o;
  o.model_path = j.at("model");
  o.data_dir = j.at("data");
  o.dataset = j.at("dataset");
  o.protocol = protocol_from_json(j.at("protocol"));
  o.seed = j.at("seed");
  o.split_seed = j.at("split_seed");
  o.val_size = j.at("val_size");
  o.device = parse_device(j.at("device"));
  if (j.contains("math")) o.math = parse_gpu_math(j["math"]);  // runs before --math: FP32
  o.out_dir = j.at("out");
  if (j.contains("lambda")) o.lambda = j["lambda"].get<double>();
  if (j.contains("decoder_init")) o.decoder_init = j["decoder_init"].get<std::string>();
  return o;
}

// One training run: everything that changes as it goes, and what writes it to disk.
class Run {
 public:
  Run(TrainOptions o, const Checkpoint* from) : o_(std::move(o)) {
    SIRE_CHECK(o_.protocol.epochs > 0 && o_.protocol.batch > 0, "protocol ", o_.protocol.name,
               ": epochs and batch must be positive");
    SIRE_CHECK(o_.protocol.select == "val" || o_.protocol.select == "train",
               "protocol ", o_.protocol.name, ": select must be val or train");
    SIRE_CHECK(o_.protocol.clip_grad_norm >= 0 && std::isfinite(o_.protocol.clip_grad_norm),
               "protocol ", o_.protocol.name,
               ": clip_grad_norm must be a finite number >= 0 (0: off), got ",
               o_.protocol.clip_grad_norm);
    SIRE_CHECK(o_.math == GpuMath::kFP32 || o_.device == Device::CUDA, "train: math ",
               gpu_math_name(o_.math), " is for device cuda (the CPU computes in FP32 only)");
    set_gpu_math(o_.math);
    std::filesystem::create_directories(o_.out_dir);
    load_data(from);
    build_model(from);
  }

  TrainResult run() {
    TrainResult r;
    r.out_dir = o_.out_dir;
    Progress bar(o_.progress);
    const int64_t per_epoch = train_loader_->batches_per_epoch();
    SIRE_CHECK(per_epoch > 0, "the training split gives no batch of ", o_.protocol.batch);
    while (epoch_ < o_.protocol.epochs) {
      const double lr = schedule_->lr(epoch_);
      sgd_->set_lr(lr);
      model_.net().train();
      train_loader_->start_epoch(epoch_, batch_);
      data::Batch b;
      auto t0 = std::chrono::steady_clock::now();
      while (train_loader_->next(b)) {
        step(b);
        ++batch_;
        const auto t1 = std::chrono::steady_clock::now();
        sums_.seconds += std::chrono::duration<double>(t1 - t0).count();
        t0 = t1;
        bar.update(epoch_, o_.protocol.epochs, batch_, per_epoch, sums_, lr, eta(per_epoch));
        if (g_stop.load() || (o_.stop_after_batches >= 0 && ++batches_run_ >= o_.stop_after_batches)) {
          save_last();
          bar.finish();
          std::fprintf(stderr, "stopped at epoch %d, batch %lld: state saved in %s/last.safetensors; "
                       "continue with: sire train --resume %s\n", epoch_ + 1,
                       static_cast<long long>(batch_), o_.out_dir.c_str(), o_.out_dir.c_str());
          r.epochs_done = epoch_;
          return r;
        }
      }
      end_epoch(lr, bar);
    }
    bar.finish();
    finish(r);
    return r;
  }

 private:
  void load_data(const Checkpoint* from) {
    data::SplitOptions so;
    so.seed = o_.split_seed;
    so.train_limit = o_.protocol.train_images;
    so.val_size = o_.val_size;
    splits_ = data::dataset_from_dir(o_.dataset, o_.data_dir, so);
    // Normalization from the training split (all of it, not just the protocol's first images),
    // kept in the checkpoint so that evaluation uses the same numbers.
    data::TransformOptions t;
    if (from) {
      t = eval_transform(*from).options();
    } else {
      data::SplitOptions all = so;
      all.train_limit = -1;
      const data::DatasetPtr full = data::dataset_from_dir(o_.dataset, o_.data_dir, all).train;
      const data::ChannelStats st = data::compute_channel_stats(*full, 20000);
      t.mean = st.mean;
      t.std = st.std;
      t.pad = full->sample_shape().height == 28 ? 2 : 0;  // MNIST-sized: 28 -> 32 (docs/sire.md)
    }
    data_meta_ = {{"dataset", splits_.name}, {"mean", t.mean}, {"std", t.std}, {"pad", t.pad}};
    eval_transform_ = data::Transform(t);
    t.random_hflip = o_.protocol.hflip;
    data::LoaderOptions lo;
    lo.batch_size = o_.protocol.batch;
    lo.shuffle = true;
    lo.drop_last = false;
    lo.seed = o_.seed;
    lo.workers = o_.workers;
    train_loader_ = std::make_unique<data::DataLoader>(splits_.train, data::Transform(t), lo);
  }

  void build_model(const Checkpoint* from) {
    const data::SampleShape s = train_loader_->output_shape();
    if (from) {
      model_ = model_from_metadata(from->model, o_.out_dir + "/last.safetensors");
    } else {
      manual_seed(o_.seed);
      models::ModelOptions mo;
      mo.classes = splits_.train->num_classes();
      mo.input = Shape{s.channels, s.height, s.width};
      mo.lambda = o_.lambda;
      mo.decoder_init = o_.decoder_init;
      model_ = models::Model::load(o_.model_path, mo);
    }
    model_.net().to(o_.device);
    const Protocol& p = o_.protocol;
    sgd_ = std::make_unique<optim::Sgd>(model_.net().parameters(),
                                        optim::SgdOptions{p.lr, p.momentum, 0.0, p.weight_decay, p.nesterov});
    schedule_ = p.milestones.empty()
                    ? std::unique_ptr<optim::LrSchedule>(new optim::ConstantLr(p.lr))
                    : std::unique_ptr<optim::LrSchedule>(new optim::MultiStepLr(p.lr, p.milestones, p.gamma));
    for (auto& [name, v] : model_.net().named_parameters())
      if (v.data().ndim() == 4) conv_weights_.emplace_back(name, v);
    if (from) {
      load_model_state(model_, from->file);
      load_optimizer_state(*sgd_, model_, from->file);
      with_context(from->file.path, [&] {
        const json& pr = from->extra.at("progress");
        epoch_ = pr.at("epoch");
        batch_ = pr.at("batch");
        sgd_->set_steps(pr.at("steps"));
        best_epoch_ = pr.at("best_epoch");
        best_metric_ = pr.at("best_metric");
        sums_ = EpochSums::from_json(pr.at("sums"));
        default_generator().set_state(pr.at("generator").at(0), pr.at("generator").at(1));
      });
    } else {
      std::ofstream(o_.out_dir + "/config.json") << options_json(o_).dump(2) << "\n";
      std::ofstream(o_.out_dir + "/metrics.jsonl", std::ios::trunc);
    }
  }

  void step(const data::Batch& b) {
    const Tensor x = b.images.to(o_.device), y = b.labels.to(o_.device);
    const Variable input(x);
    const models::ModelOutput out = model_.forward(input);
    const models::LossParts loss = model_.loss(out, input, y);
    sgd_->zero_grad();
    loss.total.backward();

    // What the step reports (the losses, each conv weight's mean |gradient| for the gradient-flow
    // plot, paper Fig. 3) goes into one buffer on the model's device and comes back in one copy:
    // on a GPU, one wait a step, where reading each value would wait once per value.
    std::vector<Tensor> parts = {loss.total.data(), loss.ce};
    parts.insert(parts.end(), loss.aux_ce.begin(), loss.aux_ce.end());
    parts.insert(parts.end(), loss.mse.begin(), loss.mse.end());
    const int64_t np = static_cast<int64_t>(parts.size());
    const int64_t nw = static_cast<int64_t>(conv_weights_.size());
    const bool clip = o_.protocol.clip_grad_norm > 0;
    const std::vector<Variable>& params = sgd_->params();
    const int64_t nsq = clip ? static_cast<int64_t>(params.size()) : 0;
    Tensor stats = Tensor::empty({np + nw + nsq}, DType::F32, o_.device);
    auto slot = [&](int64_t i) { return stats.narrow(i, i + 1).reshape({}); };
    for (int64_t i = 0; i < np; ++i) slot(i).copy_from(parts[static_cast<size_t>(i)]);
    for (size_t i = 0; i < conv_weights_.size(); ++i) {
      const Variable& v = conv_weights_[i].second;
      Tensor s = slot(np + static_cast<int64_t>(i));
      backend_for(v.device()).sum_abs(v.grad(), s);
    }
    if (clip) {  // each parameter's sum of squared gradients, for the global norm
      Tensor squares = stats.narrow(np + nw, np + nw + nsq);
      optim::grad_squares(params, squares);
    }
    const std::vector<double> got = stats.to(Device::CPU).to_vector();
    const double total = got[0], ce = got[1];
    double norm = 0;
    for (int64_t i = 0; i < nsq; ++i) norm += got[static_cast<size_t>(np + nw + i)];
    norm = std::sqrt(norm);
    const size_t n_aux = loss.aux_ce.size(), n_mse = loss.mse.size();

    // Checked before the update: a diverged step changes no weight.
    if (!std::isfinite(total) || !std::isfinite(norm)) {
      std::string detail = str("CE ", ce);
      if (clip) detail += str(", gradient norm ", norm);
      for (size_t i = 0; i < n_mse; ++i)
        detail += str(", MSE of AE ", model_.autoencoders()[i], " ", got[2 + n_aux + i]);
      // Checkpoints are written at the end of an epoch (or on Ctrl-C): whatever is there is the
      // last good state, and this step writes nothing.
      const std::string last = o_.out_dir + "/last.safetensors";
      SIRE_FAIL(std::isfinite(total) ? "the gradient's norm became " : "the loss became ",
                std::isfinite(total) ? norm : total, " at epoch ", epoch_ + 1, ", batch ",
                batch_ + 1, " (", detail, "): stopping. ",
                std::filesystem::exists(last)
                    ? str("The last good state is kept, untouched, in ", last)
                    : str("No checkpoint was written yet (the first comes at the end of epoch 1)"),
                "; a lower --lr or --lambda may help");
    }
    if (clip) {
      if (optim::scale_grads_to_norm(params, norm, o_.protocol.clip_grad_norm) != 1.0)
        ++sums_.clipped;
      sums_.grad_norm += norm;
      sums_.grad_norm_max = std::max(sums_.grad_norm_max, norm);
    }
    sgd_->step();
    const double n = static_cast<double>(b.size());
    sums_.loss += total * n;
    sums_.ce += ce * n;
    sums_.aux.resize(n_aux, 0.0);
    for (size_t i = 0; i < n_aux; ++i) sums_.aux[i] += got[2 + i] * n;
    sums_.mse.resize(n_mse, 0.0);
    for (size_t i = 0; i < n_mse; ++i) sums_.mse[i] += got[2 + n_aux + i] * n;
    for (size_t i = 0; i < conv_weights_.size(); ++i) {
      const Variable& v = conv_weights_[i].second;
      sums_.grad[conv_weights_[i].first] +=
          got[static_cast<size_t>(np) + i] / static_cast<double>(v.data().numel());
    }
    sums_.top.add(out.logits.data().to(Device::CPU), b.labels);
    sums_.samples += b.size();
    sums_.steps += 1;
  }

  Evaluation evaluate_on(const data::DatasetPtr& d) {
    return evaluate(model_, d, eval_transform_, o_.device, o_.workers);
  }

  double eta(int64_t per_epoch) const {
    if (sums_.steps == 0) return -1;
    const double per_batch = sums_.seconds / static_cast<double>(sums_.steps);
    const double left = static_cast<double>((o_.protocol.epochs - epoch_) * per_epoch - batch_);
    return per_batch * left + eval_seconds_ * (o_.protocol.epochs - epoch_);
  }

  void end_epoch(double lr, Progress& bar) {
    const auto t0 = std::chrono::steady_clock::now();
    // Ordered: a reader sees the keys as written, so "grad" lists the weights in network order
    // (the parameters' order), which is the x axis of the gradient-flow plot (paper Fig. 3).
    nlohmann::ordered_json line;
    line["epoch"] = epoch_ + 1;
    line["lr"] = lr;
    const double n = static_cast<double>(std::max<int64_t>(sums_.samples, 1));
    json tr = {{"loss", sums_.loss / n}, {"ce", sums_.ce / n},
               {"top1_err", sums_.top.error1()}, {"top5_err", sums_.top.error5()}};
    json mse = json::object();
    for (size_t i = 0; i < sums_.mse.size(); ++i) mse["ae" + std::to_string(model_.autoencoders()[i])] = sums_.mse[i] / n;
    tr["mse"] = mse;
    if (!sums_.aux.empty()) {
      json aux = json::array();
      for (double a : sums_.aux) aux.push_back(a / n);
      tr["aux_ce"] = aux;
    }
    line["train"] = tr;
    double metric = sums_.top.error1();
    if (splits_.val) {
      bar.note("validating");
      const Evaluation v = evaluate_on(splits_.val);
      line["val"] = {{"ce", v.ce}, {"top1_err", v.top.error1()}, {"top5_err", v.top.error5()}};
      if (o_.protocol.select == "val") metric = v.top.error1();
    }
    nlohmann::ordered_json grad = nlohmann::ordered_json::object();
    for (auto& [name, v] : conv_weights_) {
      const auto g = sums_.grad.find(name);
      if (g != sums_.grad.end()) grad[name] = g->second / static_cast<double>(std::max<int64_t>(sums_.steps, 1));
    }
    line["grad"] = grad;
    if (o_.protocol.clip_grad_norm > 0) {
      const double steps = static_cast<double>(std::max<int64_t>(sums_.steps, 1));
      line["clip"] = {{"max_norm", o_.protocol.clip_grad_norm},
                      {"mean_norm", sums_.grad_norm / steps},
                      {"largest_norm", sums_.grad_norm_max},
                      {"clipped_steps", sums_.clipped}};
    }
    eval_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    line["seconds"] = sums_.seconds + eval_seconds_;
    line["images_per_s"] = sums_.seconds > 0 ? sums_.samples / sums_.seconds : 0.0;
    {
      std::ofstream m(o_.out_dir + "/metrics.jsonl", std::ios::app);
      m << line.dump() << "\n";
    }
    bar.epoch_summary(line);
    if (best_epoch_ == 0 || metric < best_metric_) {
      best_epoch_ = epoch_ + 1;
      best_metric_ = metric;
      save_checkpoint(o_.out_dir + "/best.safetensors", model_, nullptr,
                      {{"data", data_meta_}, {"best", {{"epoch", best_epoch_}, {"metric", metric}}}});
    }
    ++epoch_;
    batch_ = 0;
    sums_ = EpochSums();
    save_last();
  }

  void save_last() {
    const Generator& g = default_generator();
    json progress = {{"epoch", epoch_}, {"batch", batch_}, {"steps", sgd_->steps()},
                     {"best_epoch", best_epoch_}, {"best_metric", best_metric_},
                     {"sums", sums_.to_json()}, {"generator", {g.seed(), g.streams_used()}},
                     {"options", options_json(o_)}};
    save_checkpoint(o_.out_dir + "/last.safetensors", model_, sgd_.get(),
                    {{"data", data_meta_}, {"progress", progress}});
  }

  void finish(TrainResult& r) {
    r.complete = true;
    r.epochs_done = epoch_;
    r.best_epoch = best_epoch_;
    r.best_metric = best_metric_;
    const Checkpoint best = read_checkpoint(o_.out_dir + "/best.safetensors");
    load_model_state(model_, best.file);
    json result = {{"model", model_.spec().name}, {"model_file", o_.model_path},
                   {"dataset", splits_.name}, {"seed", o_.seed}, {"best_epoch", best_epoch_},
                   {"selected_by", o_.protocol.select}, {"selection_top1_err", best_metric_},
                   {"params", model_.parameter_count()}};
    if (splits_.test) {
      const Evaluation t = evaluate_on(splits_.test);
      r.test_top1 = t.top.error1();
      r.test_top5 = t.top.error5();
      result["test"] = {{"ce", t.ce}, {"top1_err", r.test_top1}, {"top5_err", r.test_top5},
                        {"images", t.top.count}};
    }
    std::ofstream(o_.out_dir + "/result.json") << result.dump(2) << "\n";
  }

  TrainOptions o_;
  data::DatasetSplits splits_;
  data::Transform eval_transform_;
  std::unique_ptr<data::DataLoader> train_loader_;
  json data_meta_;
  models::Model model_;
  std::unique_ptr<optim::Sgd> sgd_;
  std::unique_ptr<optim::LrSchedule> schedule_;
  std::vector<std::pair<std::string, Variable>> conv_weights_;
  int epoch_ = 0;
  int64_t batch_ = 0, batches_run_ = 0;
  int best_epoch_ = 0;
  double best_metric_ = 0, eval_seconds_ = 0;
  EpochSums sums_;
};

}  // namespace

void request_stop() { g_stop.store(true); }
bool stop_requested() { return g_stop.load(); }
void clear_stop() { g_stop.store(false); }

TrainResult train(const TrainOptions& options) {
  SIRE_CHECK(!options.out_dir.empty(), "train: an output folder is needed (--out)");
  Run run(options, nullptr);
  return run.run();
}

TrainResult resume(const std::string& out_dir, const ResumeOptions& ro) {
  const std::string path = out_dir + "/last.safetensors";
  const Checkpoint c = read_checkpoint(path);
  SIRE_CHECK(c.extra.count("progress") && c.extra.count("data"), path,
             ": holds no training progress (is it a best.safetensors?)");
  TrainOptions o =
      with_context(path, [&] { return options_from_json(c.extra.at("progress").at("options")); });
  o.out_dir = out_dir;
  if (ro.device) o.device = *ro.device;
  if (ro.device == Device::CPU) o.math = GpuMath::kFP32;  // all the CPU has
  if (ro.math) o.math = *ro.math;
  if (ro.workers) o.workers = *ro.workers;
  if (ro.progress) o.progress = *ro.progress;
  o.stop_after_batches = ro.stop_after_batches;
  // Lines of epochs after the checkpoint (written just before a crash) would be repeated, and
  // a line cut short by the crash is not JSON: only whole lines of checkpointed epochs stay.
  const int done =
      with_context(path, [&] { return c.extra.at("progress").at("epoch").get<int>(); });
  // Rewritten atomically: a crash during the resume itself loses none of them.
  std::string keep;
  {
    std::ifstream in(out_dir + "/metrics.jsonl");
    std::string line;
    while (std::getline(in, line)) {
      const json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (j.is_object() && j.contains("epoch") && j["epoch"].is_number_integer() &&
          j["epoch"].get<int>() <= done)
        keep += line + "\n";
    }
  }
  io::write_file_atomically(out_dir + "/metrics.jsonl", keep);
  // Checkpoints (or that file) half-written by the process that died: not needed any more.
  io::remove_stale_temporaries(out_dir);
  Run run(o, &c);
  return run.run();
}

}  // namespace sire::train
