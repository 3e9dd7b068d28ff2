// Memory-bound CPU kernels at SIRe-CNN's largest activation ([64, 64, 32, 32], 16 MiB): batch norm
// (with and without the fused ReLU), ReLU, a bias gradient's channel sums, max-pool, upsample,
// add, a gradient's five contributions summed, MSE, and the SGD step, reported in GB/s (bytes each
// kernel must read and write) next to a plain copy measured in the same run.
//
//   build/bench/bench_layers_cpu --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include <vector>

#include "engine/backend.h"
#include "engine/random.h"

using namespace sire;

namespace {

const Shape kAct{64, 64, 32, 32};

Tensor rnd(const Shape& s, uint64_t seed) {
  Tensor t = Tensor::empty(s);
  Generator(seed).fill_normal(t, 0, 1);
  return t;
}

void set_bytes(benchmark::State& state, double bytes) {
  state.counters["GB/s"] = benchmark::Counter(bytes / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}

const double kBytes = 4.0 * numel(kAct);  // one activation

void copy(benchmark::State& state) {
  Tensor x = rnd(kAct, 1), y = Tensor::empty(kAct);
  for (auto _ : state) cpu_backend().copy(x, y);
  set_bytes(state, 2 * kBytes);
}

void batch_norm(benchmark::State& state) {
  const bool relu = state.range(0), backward = state.range(1);
  Tensor x = rnd(kAct, 1), y = Tensor::empty(kAct), dy = rnd(kAct, 2), dx = Tensor::empty(kAct);
  Tensor g = Tensor::full({64}, 1.0), b = Tensor::zeros({64}), m = Tensor::empty({64}),
         s = Tensor::empty({64}), dg = Tensor::empty({64}), db = Tensor::empty({64});
  Backend& be = cpu_backend();
  if (relu)
    be.batch_norm_relu_forward_train(x, g, b, y, m, s, nullptr, nullptr, 0.1, 1e-5, BnAdd{});
  else be.batch_norm_forward_train(x, g, b, y, m, s, nullptr, nullptr, 0.1, 1e-5);
  for (auto _ : state) {
    if (!backward) {
      if (relu)
        be.batch_norm_relu_forward_train(x, g, b, y, m, s, nullptr, nullptr, 0.1, 1e-5, BnAdd{});
      else be.batch_norm_forward_train(x, g, b, y, m, s, nullptr, nullptr, 0.1, 1e-5);
    } else if (relu) {
      be.batch_norm_relu_backward(dy, x, g, b, m, s, true, &dx, &dg, &db);
    } else {
      be.batch_norm_backward(dy, x, g, m, s, true, &dx, &dg, &db);
    }
  }
  // forward: read x (twice: statistics, then normalize) + write y; backward: read dy, x, write dx
  set_bytes(state, 3 * kBytes);
}

void relu_backward(benchmark::State& state) {
  Tensor y = rnd(kAct, 1), dy = rnd(kAct, 2), dx = Tensor::empty(kAct);
  for (auto _ : state) cpu_backend().relu_backward(y, dy, dx);
  set_bytes(state, 3 * kBytes);
}

void add(benchmark::State& state) {
  Tensor a = rnd(kAct, 1), b = rnd(kAct, 2), y = Tensor::empty(kAct);
  for (auto _ : state) cpu_backend().add(a, b, y);
  set_bytes(state, 3 * kBytes);
}

// A convolution's bias gradient: dy summed per channel.
void channel_sum(benchmark::State& state) {
  Tensor dy = rnd(kAct, 1), out = Tensor::empty({64});
  for (auto _ : state) cpu_backend().channel_sum(dy, out);
  set_bytes(state, kBytes);
}

void max_pool(benchmark::State& state) {
  Tensor x = rnd(kAct, 1), y = Tensor::empty({64, 64, 16, 16}), idx = Tensor::empty({64, 64, 16, 16}, DType::I32);
  PoolGeom g;
  g.N = 64, g.C = 64, g.H = g.W = 32, g.P = g.Q = 16;
  for (auto _ : state) cpu_backend().max_pool2d_forward(x, y, idx, g);
  set_bytes(state, 1.5 * kBytes);
}

// backward 0: forward; 1: backward; 2: forward with a skip connection added (the decoders'
// folded upsample + skip sum).
void upsample(benchmark::State& state) {
  const int64_t mode = state.range(0);
  Tensor small = rnd({64, 64, 16, 16}, 1), big = rnd(kAct, 2), skip = rnd(kAct, 3);
  for (auto _ : state) {
    if (mode == 1)
      cpu_backend().upsample_nearest2d_backward(big, small);
    else
      cpu_backend().upsample_nearest2d_forward(small, big, mode == 2 ? &skip : nullptr);
  }
  set_bytes(state, (mode == 2 ? 2.25 : 1.25) * kBytes);
}

// Five gradients of one activation (SIRe-CNN's 32x32 level: the next layer and four decoders'
// skips) summed into the first: fused 1, one pass (add_n); 0, four pairwise adds in place (the
// engine's default). Both reported against the bytes one pass must move (read 5, write 1).
void gradient_sum(benchmark::State& state) {
  const bool fused = state.range(0);
  std::vector<Tensor> g;
  for (int i = 0; i < 5; ++i) g.push_back(rnd(kAct, 1 + i));
  std::vector<const Tensor*> xs;
  for (const Tensor& t : g) xs.push_back(&t);
  for (auto _ : state) {
    if (fused)
      cpu_backend().add_n(xs, g[0]);
    else
      cpu_backend().Backend::add_n(xs, g[0]);
  }
  set_bytes(state, 6 * kBytes);
}

void mse(benchmark::State& state) {
  Tensor a = rnd(kAct, 1), b = rnd(kAct, 2), out = Tensor::empty({});
  for (auto _ : state) cpu_backend().mse_forward(a, b, out);
  set_bytes(state, 2 * kBytes);
}

BENCHMARK(copy)->Unit(benchmark::kMillisecond)->UseRealTime();
// The optimizer's step over SIRe-CNN's 14.07M parameters in one tensor (Nesterov momentum,
// weight decay, as the paper trains): read param, grad, momentum; write param, momentum.
void sgd(benchmark::State& state) {
  const Shape s{14072944};
  Tensor p = rnd(s, 1), g = rnd(s, 2), v = rnd(s, 3);
  SgdStep st;
  st.lr = 0.01, st.momentum = 0.9, st.weight_decay = 5e-4, st.nesterov = true;
  for (auto _ : state) cpu_backend().sgd_update(p, g, &v, st);
  set_bytes(state, 5 * 4.0 * numel(s));
}

BENCHMARK(batch_norm)->ArgsProduct({{0, 1}, {0, 1}})->ArgNames({"relu", "backward"})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(relu_backward)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(add)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(channel_sum)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(max_pool)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(upsample)
    ->Arg(0)
    ->Arg(1)
    ->Arg(2)
    ->ArgName("backward")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(sgd)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(gradient_sum)
    ->Arg(0)
    ->Arg(1)
    ->ArgName("fused")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(mse)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
