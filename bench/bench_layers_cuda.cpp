// The memory-bound CUDA kernels at the SIRe-CNN activation shapes, batch 64: max pooling,
// nearest upsampling, batch norm (training forward and backward), fused MSE, relu, add, dropout
// and the fused SGD step. Each row reports the bytes the kernel must move (every input read once,
// every output written once) over its time, as GB/s and as a fraction of the device-to-device
// copy bandwidth measured in the same run (target >= 0.8): of a 512 MiB copy (`of_copy`), and
// of a copy that moves the same bytes (`of_copy_same_size`, the fair one at these sizes);
// pooling and batch norm also next to cuDNN (our time over theirs). Times: CUDA events, L2
// flushed, median of 25 after warm-up.
//
//   build/bench/bench_layers_cuda --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include "bench/cuda_bench.h"
#include "engine/backend.h"
#include "kernels/cuda/runtime.h"

using namespace sire;
using namespace sire::bench;

namespace {

constexpr int kN = 64;
// (channels, height = width) of the activations at each SIRe-CNN level.
const std::pair<int, int> kLevels[] = {{64, 32}, {128, 16}, {256, 8}, {512, 4}};

Backend& be() { return *cuda_backend(); }

void report(benchmark::State& state, double bytes, const std::function<void()>& ours,
            const std::function<void()>& theirs = nullptr) {
  double t = 0, t_theirs = 0;
  for (auto _ : state) {
    t = median_ms(ours);
    if (theirs) t_theirs = median_ms(theirs);
    state.SetIterationTime(t / 1e3);
  }
  const double gbs = bytes / (t * 1e6);
  state.counters["GB/s"] = gbs;
  state.counters["of_copy"] = gbs / copy_bandwidth_gbs();
  state.counters["of_copy_same_size"] = gbs / copy_bandwidth_gbs(bytes);
  state.counters["ms"] = t;
  if (theirs) {
    state.counters["cuDNN_ms"] = t_theirs;
    state.counters["vs_cuDNN"] = t / t_theirs;
  }
}

double bytes_of(std::initializer_list<const Tensor*> ts) {
  double b = 0;
  for (const Tensor* t : ts) b += static_cast<double>(t->nbytes());
  return b;
}

struct CudnnPool {
  cudnnPoolingDescriptor_t d = nullptr;
  CudnnPool() {
    SIRE_CUDNN_CHECK(cudnnCreatePoolingDescriptor(&d));
    SIRE_CUDNN_CHECK(cudnnSetPooling2dDescriptor(d, CUDNN_POOLING_MAX_DETERMINISTIC,
                                                 CUDNN_PROPAGATE_NAN, 2, 2, 0, 0, 2, 2));
  }
  ~CudnnPool() { cudnnDestroyPoolingDescriptor(d); }
};

void max_pool(benchmark::State& state, int C, int hw, bool backward) {
  PoolGeom g;
  g.N = kN, g.C = C, g.H = g.W = hw, g.P = g.Q = hw / 2;
  const Tensor x = random_device({kN, C, hw, hw}, 1),
               dy = random_device({kN, C, hw / 2, hw / 2}, 2);
  Tensor y = Tensor::empty(dy.shape(), DType::F32, Device::CUDA),
         dx = Tensor::empty(x.shape(), DType::F32, Device::CUDA);
  Tensor idx = Tensor::empty(dy.shape(), DType::I32, Device::CUDA);
  Tensor y2 = Tensor::empty(dy.shape(), DType::F32, Device::CUDA);
  be().max_pool2d_forward(x, y, idx, g);
  CudnnPool pool;
  TensorDesc xd(kN, C, hw, hw), yd(kN, C, hw / 2, hw / 2);
  const float one = 1.0f, zero = 0.0f;
  SIRE_CUDNN_CHECK(
      cudnnPoolingForward(cudnn(), pool.d, &one, xd.d, x.raw_data(), &zero, yd.d, y2.raw_data()));
  if (!backward) {
    report(
        state, bytes_of({&x, &y, &idx}), [&] { be().max_pool2d_forward(x, y, idx, g); },
        [&] {
          SIRE_CUDNN_CHECK(cudnnPoolingForward(cudnn(), pool.d, &one, xd.d, x.raw_data(), &zero,
                                               yd.d, y2.raw_data()));
        });
  } else {
    report(
        state, bytes_of({&dy, &idx, &dx}), [&] { be().max_pool2d_backward(dy, idx, dx, g); },
        [&] {
          SIRE_CUDNN_CHECK(cudnnPoolingBackward(cudnn(), pool.d, &one, yd.d, y2.raw_data(), yd.d,
                                                dy.raw_data(), xd.d, x.raw_data(), &zero, xd.d,
                                                dx.raw_data()));
        });
  }
}

void upsample(benchmark::State& state, int C, int hw, bool backward) {
  const Tensor x = random_device({kN, C, hw / 2, hw / 2}, 1),
               dy = random_device({kN, C, hw, hw}, 2);
  Tensor y = Tensor::empty(dy.shape(), DType::F32, Device::CUDA),
         dx = Tensor::empty(x.shape(), DType::F32, Device::CUDA);
  if (!backward)
    report(state, bytes_of({&x, &y}), [&] { be().upsample_nearest2d_forward(x, y, nullptr); });
  else
    report(state, bytes_of({&dy, &dx}), [&] { be().upsample_nearest2d_backward(dy, dx); });
}

void batch_norm(benchmark::State& state, int C, int hw, bool backward) {
  const Tensor x = random_device({kN, C, hw, hw}, 1), dy = random_device({kN, C, hw, hw}, 2);
  const Tensor gamma = random_device({C}, 3), beta = random_device({C}, 4);
  Tensor y = Tensor::empty(x.shape(), DType::F32, Device::CUDA),
         dx = Tensor::empty(x.shape(), DType::F32, Device::CUDA);
  Tensor mean = Tensor::empty({C}, DType::F32, Device::CUDA),
         invstd = Tensor::empty({C}, DType::F32, Device::CUDA);
  Tensor rm = Tensor::zeros({C}, DType::F32, Device::CUDA),
         rv = Tensor::full({C}, 1.0, DType::F32, Device::CUDA);
  Tensor dgamma = Tensor::empty({C}, DType::F32, Device::CUDA),
         dbeta = Tensor::empty({C}, DType::F32, Device::CUDA);
  TensorDesc xd(kN, C, hw, hw), pd(1, C, 1, 1);
  Tensor m2 = Tensor::empty({C}, DType::F32, Device::CUDA),
         v2 = Tensor::empty({C}, DType::F32, Device::CUDA);
  Tensor rm2 = rm.clone(), rv2 = rv.clone(), y2 = y.clone(), dx2 = dx.clone();
  const float one = 1.0f, zero = 0.0f;
  auto theirs_fwd = [&] {
    SIRE_CUDNN_CHECK(cudnnBatchNormalizationForwardTraining(
        cudnn(), CUDNN_BATCHNORM_SPATIAL, &one, &zero, xd.d, x.raw_data(), xd.d, y2.raw_data(),
        pd.d, gamma.raw_data(), beta.raw_data(), 0.1, rm2.raw_data(), rv2.raw_data(), 1e-5,
        m2.raw_data(), v2.raw_data()));
  };
  auto ours_fwd = [&] {
    be().batch_norm_forward_train(x, gamma, beta, y, mean, invstd, &rm, &rv, 0.1, 1e-5);
  };
  ours_fwd();
  theirs_fwd();
  if (!backward) {
    report(state, bytes_of({&x, &y}), ours_fwd, theirs_fwd);
  } else {
    report(
        state, bytes_of({&x, &dy, &dx}),
        [&] { be().batch_norm_backward(dy, x, gamma, mean, invstd, true, &dx, &dgamma, &dbeta); },
        [&] {
          SIRE_CUDNN_CHECK(cudnnBatchNormalizationBackward(
              cudnn(), CUDNN_BATCHNORM_SPATIAL, &one, &zero, &one, &zero, xd.d, x.raw_data(), xd.d,
              dy.raw_data(), xd.d, dx2.raw_data(), pd.d, gamma.raw_data(), dgamma.raw_data(),
              dbeta.raw_data(), 1e-5, m2.raw_data(), v2.raw_data()));
        });
  }
}

void mse(benchmark::State& state, int C, int hw, bool backward) {
  const Tensor a = random_device({kN, C, hw, hw}, 1), b = random_device({kN, C, hw, hw}, 2);
  const Tensor g = random_device({}, 3);
  Tensor loss = Tensor::empty({}, DType::F32, Device::CUDA);
  Tensor da = Tensor::empty(a.shape(), DType::F32, Device::CUDA),
         db = Tensor::empty(a.shape(), DType::F32, Device::CUDA);
  if (!backward)
    report(state, bytes_of({&a, &b}), [&] { be().mse_forward(a, b, loss); });
  else
    report(state, bytes_of({&a, &b, &da, &db}), [&] { be().mse_backward(a, b, g, &da, &db); });
}

void elementwise(benchmark::State& state, int which) {
  const int64_t n = int64_t{kN} * 64 * 32 * 32;  // the largest SIRe-CNN activation
  const Tensor a = random_device({n}, 1), b = random_device({n}, 2);
  Tensor y = Tensor::empty({n}, DType::F32, Device::CUDA);
  switch (which) {
    case 0:
      report(state, bytes_of({&a, &y}), [&] { be().relu_forward(a, y); });
      break;
    case 1:
      report(state, bytes_of({&a, &b, &y}), [&] { be().add(a, b, y); });
      break;
    case 2:
      report(state, bytes_of({&a, &y}), [&] { be().dropout_forward(a, y, 0.3, 7, 1); });
      break;
    default: {
      Tensor p = a.clone(), buf = b.clone();
      SgdStep st;
      st.lr = 0.01, st.momentum = 0.9, st.weight_decay = 5e-4, st.nesterov = true;
      // reads p, grad, buf; writes p, buf
      report(state, 5.0 * static_cast<double>(p.nbytes()),
             [&] { be().sgd_update(p, b, &buf, st); });
    }
  }
}

void copy_baseline(benchmark::State& state) {
  for (auto _ : state) state.SetIterationTime(1e-3);
  state.counters["GB/s"] = copy_bandwidth_gbs();
  state.counters["of_copy"] = 1.0;
  state.counters["of_copy_same_size"] = 1.0;
}

template <class F>
void add(const std::string& name, F f) {
  benchmark::RegisterBenchmark(name.c_str(), f)
      ->Unit(benchmark::kMillisecond)
      ->UseManualTime()
      ->Iterations(1);
}

void register_all() {
  add("copy/device_to_device/512MiB", copy_baseline);
  for (auto [C, hw] : kLevels) {
    const std::string shape = std::to_string(C) + "@" + std::to_string(hw);
    for (bool bwd : {false, true}) {
      const std::string pass = bwd ? "/bwd" : "/fwd";
      add("max_pool2d/" + shape + pass, [=](benchmark::State& s) { max_pool(s, C, hw, bwd); });
      add("upsample_nearest2d/" + std::to_string(C) + "@" + std::to_string(hw / 2) + "to" +
              std::to_string(hw) + pass,
          [=](benchmark::State& s) { upsample(s, C, hw, bwd); });
      add("batch_norm_train/" + shape + pass,
          [=](benchmark::State& s) { batch_norm(s, C, hw, bwd); });
    }
  }
  for (int C : {3, 64})
    for (bool bwd : {false, true})
      add("mse_loss/" + std::to_string(C) + "@32" + (bwd ? "/bwd" : "/fwd"),
          [=](benchmark::State& s) { mse(s, C, 32, bwd); });
  const char* names[] = {"relu", "add", "dropout", "sgd_nesterov"};
  for (int i = 0; i < 4; ++i)
    add(std::string(names[i]) + "/4Mi", [=](benchmark::State& s) { elementwise(s, i); });
}

}  // namespace

int main(int argc, char** argv) {
  if (!cuda_available()) {
    std::fprintf(stderr, "bench_layers_cuda: no CUDA device\n");
    return 1;
  }
  benchmark::AddCustomContext("device", device_description());
  register_all();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
