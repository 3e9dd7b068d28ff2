// `sire time`: times whole training steps (forward, the losses, backward, the optimizer) of a
// model on random data, after warm-up, like `caffe time`: the median step, images/s, GFLOP/s,
// peak memory, and each layer's forward and backward time. With --versus, a second model's
// steps alternate with the first's in the same process, and the ratio of each pair of steps is
// reported: a ratio that a shared machine's slow and fast minutes move far less than the ratio
// of two separate runs.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "apps/args.h"
#include "apps/commands.h"
#include "engine/backend.h"
#include "engine/optim/sgd.h"
#include "engine/profile.h"
#include "engine/random.h"
#include "models/model.h"

namespace sire::app {
namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

int64_t peak_rss_bytes() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<int64_t>(u.ru_maxrss) * 1024;
}

// A model, its optimizer and a batch of random data on `device`, ready to take training steps.
struct Trainee {
  models::Model model;
  optim::Sgd sgd;
  Tensor xd, yd;

  Trainee(const std::string& path, const models::ModelOptions& mo, Device device, int64_t batch)
      : model(load(path, mo, device)), sgd(model.net().parameters(), {0.01, 0.9, 0.0, 5e-4, true}) {
    const Shape in = model.input_shape();
    Tensor x = Tensor::empty({batch, in[0], in[1], in[2]});
    Generator(7).fill_normal(x, 0, 1);
    std::vector<int32_t> y(static_cast<size_t>(batch));
    for (int64_t i = 0; i < batch; ++i) y[i] = static_cast<int32_t>(i % model.classes());
    xd = x.to(device);
    yd = Tensor::from_vector({batch}, y).to(device);
  }

  static models::Model load(const std::string& path, const models::ModelOptions& mo,
                            Device device) {
    models::Model m = models::Model::load(path, mo);
    m.net().to(device);
    return m;
  }

  // One step; returns the seconds the host took to issue it: on a GPU, a step whose issue time
  // is close to its whole time is bound by the host (launches, bookkeeping), not by the kernels.
  double step(Backend& be) {
    const double t0 = now_s();
    const Variable input(xd);
    const models::LossParts loss = model.loss(model.forward(input), input, yd);
    sgd.zero_grad();
    loss.total.backward();
    const double t_update = profile::enabled() ? now_s() : 0;
    sgd.step();
    if (profile::enabled()) {
      be.synchronize();
      profile::layer_times()[profile::kOptimizer].backward_s += now_s() - t_update;
    }
    const double issued = now_s() - t0;
    be.synchronize();
    return issued;
  }
};

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int run_time(const std::vector<std::string>& argv) {
  Args args("time", "Time training steps of a model (forward, losses, backward, optimizer).");
  args.option("model", "the model file")
      .option("batch", "batch size", "64")
      .option("input", "input shape C,H,W", "3,32,32")
      .option("classes", "number of classes", "100")
      .option("steps", "timed steps (after 2 warm-up steps)", "10")
      .option("threads", "CPU threads (0: all cores)", "0")
      .option("device", "cpu or cuda", "cpu")
      .option("math",
              "GPU math: fp32, tf32 (tensor cores) or 3xtf32 (tensor cores, FP32's accuracy)",
              "fp32")
      .option("seed", "seed of the weights and data", "0")
      .option("versus", "a second model file, its steps alternating with the first's")
      .flag("layers", "also print each layer's forward and backward time")
      .flag("json", "print a JSON object (step_ms is the median)");
  if (!args.parse(argv)) {
    std::cout << args.usage();
    return 0;
  }
  SIRE_CHECK(args.has("model"), "sire time: --model is required\n\n", args.usage());
  set_cpu_threads(static_cast<int>(args.get_int("threads")));
  const Device device = parse_device(args.get("device"));
  const GpuMath math = math_option(args, device);
  set_gpu_math(math);
  const int64_t batch = args.get_int("batch"), steps = args.get_int("steps");
  SIRE_CHECK(batch > 0 && steps > 0, "sire time: --batch and --steps must be positive");
  manual_seed(static_cast<uint64_t>(args.get_int("seed")));
  models::ModelOptions mo;
  mo.classes = args.get_int("classes");
  mo.input = args.maybe_shape("input");
  Trainee first(args.get("model"), mo, device, batch);
  models::Model& model = first.model;
  std::unique_ptr<Trainee> other;
  if (args.has("versus")) {
    manual_seed(static_cast<uint64_t>(args.get_int("seed")));
    other = std::make_unique<Trainee>(args.get("versus"), mo, device, batch);
  }
  Backend& be = backend_for(device);
  auto step = [&] { return first.step(be); };

  for (int i = 0; i < 2; ++i) {  // warm-up: workspaces and caches settle
    step();
    if (other) other->step(be);
  }
  reset_peak_memory(device);
  std::vector<double> times, issue, other_times, ratios;
  for (int64_t i = 0; i < steps; ++i) {
    const double t0 = now_s();
    issue.push_back(step());
    times.push_back(now_s() - t0);
    if (!other) continue;
    const double t1 = now_s();
    other->step(be);
    other_times.push_back(now_s() - t1);
    ratios.push_back(times.back() / other_times.back());
  }
  const double issue_median = median_of(issue);
  const int64_t peak = memory_stats(device).peak_bytes;
  std::sort(times.begin(), times.end());
  const double median = times[times.size() / 2];

  // One profiled step: per-layer times and the multiply-accumulates of a step.
  profile::reset();
  profile::set_enabled(true);
  const double t_profiled = now_s();
  step();
  const double profiled_s = now_s() - t_profiled;
  profile::set_enabled(false);
  const double gflop = 2.0 * static_cast<double>(profile::macs()) / 1e9;

  nlohmann::json j = {{"model", model.spec().name},
                      {"device", device_name(device)},
                      {"math", gpu_math_name(math)},
                      {"batch", batch},
                      {"threads", cpu_threads()},
                      {"steps", steps},
                      {"step_ms", median * 1e3},
                      {"step_ms_min", times.front() * 1e3},
                      {"step_ms_max", times.back() * 1e3},
                      {"host_issue_ms", issue_median * 1e3},
                      {"images_per_s", batch / median},
                      {"gflop_per_step", gflop},
                      {"gflop_per_s", gflop / median},
                      {"peak_bytes", peak},
                      {"peak_rss_bytes", peak_rss_bytes()},
                      {"params", model.parameter_count()}};
  if (other) {
    std::sort(ratios.begin(), ratios.end());
    j["versus"] = {{"model", other->model.spec().name},
                   {"step_ms", median_of(other_times) * 1e3},
                   {"images_per_s", batch / median_of(other_times)},
                   {"ratio", ratios[ratios.size() / 2]},
                   {"ratio_min", ratios.front()},
                   {"ratio_max", ratios.back()}};
  }
  if (args.get_flag("json")) {
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::printf(
      "%s on %s%s, batch %lld, %d thread(s): median step %.1f ms (min %.1f, max %.1f), "
      "%.1f images/s, %.1f GFLOP/step, %.1f GFLOP/s, peak %.1f MiB (tensors), "
      "%.1f MiB (process)",
      model.spec().name.c_str(), device_name(device),
      device == Device::CUDA ? str(" (", gpu_math_name(math), ")").c_str() : "",
      static_cast<long long>(batch), cpu_threads(), median * 1e3, times.front() * 1e3,
      times.back() * 1e3, batch / median, gflop, gflop / median, peak / 1048576.0,
      peak_rss_bytes() / 1048576.0);
  // On a GPU the host's share says whether launches or kernels bound the step.
  if (device != Device::CPU) std::printf(", host issues a step in %.1f ms", issue_median * 1e3);
  std::printf("\n");
  if (other)
    std::printf(
        "versus %s, its steps alternating: median step %.1f ms; %s / %s step by step: median "
        "%.3f (min %.3f, max %.3f; peak memory above is of both)\n",
        other->model.spec().name.c_str(), median_of(other_times) * 1e3, model.spec().name.c_str(),
        other->model.spec().name.c_str(), ratios[ratios.size() / 2], ratios.front(), ratios.back());
  if (!args.get_flag("layers")) return 0;
  std::printf("\n%-28s %12s %12s\n", "layer", "forward ms", "backward ms");
  double f = 0, b = 0;
  const models::GraphPlan& plan = model.net().plan();
  for (const models::LayerSpec& l : plan.layers) {
    // A layer fused into another's op has its time in that layer's row.
    const int host = model.net().computed_in(plan.index.at(l.name));
    if (host >= 0) {
      std::printf("%-28s %25s\n", l.name.c_str(), ("(in " + plan.layers[host].name + ")").c_str());
      continue;
    }
    const profile::LayerTime t = profile::layer_times()[l.name];
    std::printf("%-28s %12.2f %12.2f\n", l.name.c_str(), t.forward_s * 1e3, t.backward_s * 1e3);
    f += t.forward_s;
    b += t.backward_s;
  }
  // The rows outside the layers: the losses (recorded outside any layer's scope), the backward
  // pass's gradient sums, the optimizer, and whatever the profiled step spent elsewhere
  // (bookkeeping, allocation), so that the column sums add up to the profiled step.
  for (const char* row : {"", profile::kGradientSums, profile::kOptimizer}) {
    const profile::LayerTime t = profile::layer_times()[row];
    std::printf("%-28s %12.2f %12.2f\n", *row ? row : "(losses)", t.forward_s * 1e3,
                t.backward_s * 1e3);
    f += t.forward_s;
    b += t.backward_s;
  }
  std::printf("%-28s %12.2f\n", "(elsewhere)", (profiled_s - f - b) * 1e3);
  std::printf("%-28s %12.2f %12.2f   (profiled step %.1f ms)\n", "total", f * 1e3, b * 1e3,
              profiled_s * 1e3);
  return 0;
}

}  // namespace sire::app
