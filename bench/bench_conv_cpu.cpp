// CPU convolution and transposed convolution at the SIRe-CNN shapes: forward, backward-data,
// backward-weight, each in GFLOP/s (2 FLOP per multiply-accumulate) and as a share of the FMA
// peak that `fma_peak` measures in the same run. The passes that Winograd F(4x4, 3x3) can take
// (kernels/cpu/conv_winograd.h) run twice, next to each other: on the direct kernels
// (`.../direct`) and on Winograd (`.../winograd`); their GFLOP/s count the direct sum's
// multiply-accumulates either way. The other passes run as the backend chooses.
//
//   build/bench/bench_conv_cpu --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include <immintrin.h>

#include <string>
#include <vector>

#include "bench/sire_shapes.h"
#include "engine/backend.h"
#include "engine/random.h"
#include "kernels/cpu/conv_winograd.h"

using namespace sire;
using namespace sire::bench;

namespace {

enum class Pass { kForward, kBackwardData, kBackwardWeight };

Tensor rnd(const Shape& s, uint64_t seed) {
  Tensor t = Tensor::empty(s);
  Generator(seed).fill_uniform(t, -1, 1);
  return t;
}

// The convolution of `shape` (transposed: the convolution it is the transpose of).
ConvGeom geom(const ConvShape& s, bool transposed) {
  ConvGeom g;
  g.N = kBatch;
  g.C = transposed ? s.out : s.in;
  g.K = transposed ? s.in : s.out;
  g.H = g.W = g.P = g.Q = s.hw;
  g.R = g.S = 3;
  g.pad_h = g.pad_w = 1;
  return g;
}

// The geometry that pass's kernel runs on (a stride-1 backward-data is a flipped forward).
ConvGeom kernel_geom(const ConvGeom& g, Pass kernel) {
  if (kernel != Pass::kBackwardData) return g;
  ConvGeom f = g;
  std::swap(f.C, f.K);
  return f;
}

Pass kernel_of(Pass pass, bool transposed) {
  if (!transposed || pass == Pass::kBackwardWeight) return pass;
  return pass == Pass::kForward ? Pass::kBackwardData : Pass::kForward;
}

void run_conv(benchmark::State& state, ConvShape s, bool transposed, Pass pass,
              cpu::WinogradUse use) {
  const ConvGeom g = geom(s, transposed);
  cpu::set_winograd_use(use);
  Tensor x = rnd({g.N, g.C, g.H, g.W}, 1), w = rnd({g.K, g.C, g.R, g.S}, 2),
         y = rnd({g.N, g.K, g.P, g.Q}, 3), dw = Tensor::empty(w.shape());
  Backend& b = cpu_backend();
  // A transposed conv's forward is its convolution's backward-data, and the reverse.
  const Pass kernel = kernel_of(pass, transposed);
  for (auto _ : state) {
    switch (kernel) {
      case Pass::kForward: b.conv2d_forward(x, w, nullptr, y, g); break;
      case Pass::kBackwardData: b.conv2d_backward_data(y, w, x, g); break;
      case Pass::kBackwardWeight: b.conv2d_backward_weight(x, y, dw, g); break;
    }
    benchmark::ClobberMemory();
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * static_cast<double>(g.macs()) / 1e9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
  cpu::set_winograd_use(cpu::WinogradUse::kAuto);
}

void register_all() {
  const char* pass_name[] = {"fwd", "bwd_data", "bwd_weight"};
  for (bool transposed : {false, true})
    for (const ConvShape& s : transposed ? decoder_shapes() : encoder_shapes())
      for (Pass p : {Pass::kForward, Pass::kBackwardData, Pass::kBackwardWeight}) {
        const std::string name = std::string(transposed ? "conv_transpose2d/" : "conv2d/") +
                                 s.name + "/" + std::to_string(s.in) + "to" +
                                 std::to_string(s.out) + "@" + std::to_string(s.hw) + "/" +
                                 pass_name[static_cast<int>(p)];
        const Pass kernel = kernel_of(p, transposed);
        const bool winograd = cpu::winograd_conv_fits(kernel_geom(geom(s, transposed), kernel));
        using U = cpu::WinogradUse;
        for (U use : winograd ? std::vector<U>{U::kOff, U::kAlways} : std::vector<U>{U::kAuto})
          benchmark::RegisterBenchmark((use == U::kOff      ? name + "/direct"
                                        : use == U::kAlways ? name + "/winograd"
                                                            : name)
                                           .c_str(),
                                       run_conv, s, transposed, p, use)
              ->Unit(benchmark::kMillisecond)
              ->MinWarmUpTime(0.2)
              ->UseRealTime();
      }
}

// Peak FP32 FMA throughput of one core: 12 independent accumulator chains (enough to cover the
// FMA latency), 2 FLOP per lane. Multiply by the cores used for the machine's peak.
void fma_peak(benchmark::State& state) {
#if defined(__AVX512F__)
  using V = __m512;
  constexpr int kLanes = 16;
  auto set = [](float v) { return _mm512_set1_ps(v); };
  auto fma = [](V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); };
#elif defined(__AVX2__) && defined(__FMA__)
  using V = __m256;
  constexpr int kLanes = 8;
  auto set = [](float v) { return _mm256_set1_ps(v); };
  auto fma = [](V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); };
#else
  state.SkipWithError("no FMA instructions in this build");
  return;
#endif
#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
  V acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = set(static_cast<float>(i));
  const V m = set(0.999f), a = set(0.001f);
  constexpr int64_t kIters = 1 << 20;
  for (auto _ : state) {
    for (int64_t it = 0; it < kIters; ++it)
      for (int i = 0; i < 12; ++i) acc[i] = fma(acc[i], m, a);
    benchmark::DoNotOptimize(acc);
  }
  state.counters["GFLOP/s"] = benchmark::Counter(kIters * 12.0 * kLanes * 2 / 1e9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
#endif
}
BENCHMARK(fma_peak)->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
