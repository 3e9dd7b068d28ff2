// Our CUDA convolution kernels next to cuDNN's fastest algorithm (found by timing them all) at
// every SIRe-CNN layer shape, batch 64: forward, backward-data and backward-weight of the
// encoder's convolutions and of the decoders' transposed convolutions, in FP32 (cuDNN limited to
// FMA math), TF32 (tensor cores on both sides) and 3xTF32 (ours on the tensor cores at FP32's
// accuracy, against cuDNN's FP32, the same accuracy class). Each row reports our GFLOP/s (2 FLOP
// per multiply-accumulate), cuDNN's, our time over cuDNN's (target <= 1.05), and the relative
// difference of the two results. Times: CUDA events, L2 flushed, median of 25 after warm-up.
//
//   build/bench/bench_conv_cuda --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include "bench/cuda_bench.h"
#include "bench/sire_shapes.h"
#include "engine/backend.h"
#include "kernels/cuda/conv_winograd.h"
#include "kernels/cuda/runtime.h"

using namespace sire;
using namespace sire::bench;

namespace {

enum class Kernel { kForward, kBackwardData, kBackwardWeight };
const char* kPassName[] = {"fwd", "bwd_data", "bwd_weight"};

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

// A transposed conv's forward is its convolution's backward-data, and the reverse.
Kernel kernel_of(int pass, bool transposed) {
  if (!transposed || pass == 2) return static_cast<Kernel>(pass);
  return pass == 0 ? Kernel::kBackwardData : Kernel::kForward;
}

struct CudnnConv {
  TensorDesc x, y;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  CudnnConv(const ConvGeom& g, cuda::Math math)
      : x(int(g.N), int(g.C), int(g.H), int(g.W)), y(int(g.N), int(g.K), int(g.P), int(g.Q)) {
    SIRE_CUDNN_CHECK(cudnnCreateFilterDescriptor(&w));
    SIRE_CUDNN_CHECK(cudnnSetFilter4dDescriptor(w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, int(g.K),
                                                int(g.C), int(g.R), int(g.S)));
    SIRE_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&conv));
    SIRE_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(conv, int(g.pad_h), int(g.pad_w),
                                                     int(g.stride_h), int(g.stride_w), 1, 1,
                                                     CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    SIRE_CUDNN_CHECK(cudnnSetConvolutionMathType(
        conv, math == cuda::Math::kTF32 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH));  // 3x: FMA
  }
  ~CudnnConv() {
    cudnnDestroyFilterDescriptor(w);
    cudnnDestroyConvolutionDescriptor(conv);
  }
};

// The first (fastest) successful result of a cuDNN Find call.
template <class Perf>
const Perf& fastest(const Perf* perf, int count, const char* what) {
  for (int i = 0; i < count; ++i)
    if (perf[i].status == CUDNN_STATUS_SUCCESS) return perf[i];
  SIRE_FAIL("cuDNN found no ", what, " algorithm");
}

void run_conv(benchmark::State& state, ConvShape s, bool transposed, int pass, cuda::Math math) {
  cuda::set_math(math);
  const ConvGeom g = geom(s, transposed);
  Backend& be = *cuda_backend();
  const Tensor x = random_device({g.N, g.C, g.H, g.W}, 1), w = random_device({g.K, g.C, 3, 3}, 2),
               dy = random_device({g.N, g.K, g.P, g.Q}, 3);
  CudnnConv d(g, math);
  const float one = 1.0f, zero = 0.0f;
  Tensor ours, theirs, workspace;
  std::function<void()> run_ours, run_theirs;
  int algo = -1;
  switch (kernel_of(pass, transposed)) {
    case Kernel::kForward: {
      ours = Tensor::empty(dy.shape(), DType::F32, Device::CUDA);
      theirs = Tensor::empty(dy.shape(), DType::F32, Device::CUDA);
      cudnnConvolutionFwdAlgoPerf_t perf[16];
      int n = 0;
      SIRE_CUDNN_CHECK(
          cudnnFindConvolutionForwardAlgorithm(cudnn(), d.x.d, d.w, d.conv, d.y.d, 16, &n, perf));
      const auto& best = fastest(perf, n, "forward");
      algo = best.algo;
      workspace = Tensor::empty({int64_t(best.memory / 4) + 1}, DType::I32, Device::CUDA);
      run_ours = [&] { be.conv2d_forward(x, w, nullptr, ours, g); };
      run_theirs = [&, best] {
        SIRE_CUDNN_CHECK(cudnnConvolutionForward(
            cudnn(), &one, d.x.d, x.raw_data(), d.w, w.raw_data(), d.conv, best.algo,
            workspace.raw_data(), best.memory, &zero, d.y.d, theirs.raw_data()));
      };
      break;
    }
    case Kernel::kBackwardData: {
      ours = Tensor::empty(x.shape(), DType::F32, Device::CUDA);
      theirs = Tensor::empty(x.shape(), DType::F32, Device::CUDA);
      cudnnConvolutionBwdDataAlgoPerf_t perf[16];
      int n = 0;
      SIRE_CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithm(cudnn(), d.w, d.y.d, d.conv, d.x.d,
                                                                 16, &n, perf));
      const auto& best = fastest(perf, n, "backward-data");
      algo = best.algo;
      workspace = Tensor::empty({int64_t(best.memory / 4) + 1}, DType::I32, Device::CUDA);
      run_ours = [&] { be.conv2d_backward_data(dy, w, ours, g); };
      run_theirs = [&, best] {
        SIRE_CUDNN_CHECK(cudnnConvolutionBackwardData(
            cudnn(), &one, d.w, w.raw_data(), d.y.d, dy.raw_data(), d.conv, best.algo,
            workspace.raw_data(), best.memory, &zero, d.x.d, theirs.raw_data()));
      };
      break;
    }
    case Kernel::kBackwardWeight: {
      ours = Tensor::empty(w.shape(), DType::F32, Device::CUDA);
      theirs = Tensor::empty(w.shape(), DType::F32, Device::CUDA);
      cudnnConvolutionBwdFilterAlgoPerf_t perf[16];
      int n = 0;
      SIRE_CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithm(cudnn(), d.x.d, d.y.d, d.conv,
                                                                   d.w, 16, &n, perf));
      const auto& best = fastest(perf, n, "backward-filter");
      algo = best.algo;
      workspace = Tensor::empty({int64_t(best.memory / 4) + 1}, DType::I32, Device::CUDA);
      run_ours = [&] { be.conv2d_backward_weight(x, dy, ours, g); };
      run_theirs = [&, best] {
        SIRE_CUDNN_CHECK(cudnnConvolutionBackwardFilter(
            cudnn(), &one, d.x.d, x.raw_data(), d.y.d, dy.raw_data(), d.conv, best.algo,
            workspace.raw_data(), best.memory, &zero, d.w, theirs.raw_data()));
      };
      break;
    }
  }
  run_ours();
  run_theirs();
  const double err = relative_l2(ours, theirs);
  double t_ours = 0, t_theirs = 0;
  for (auto _ : state) {
    t_ours = median_ms(run_ours);
    t_theirs = median_ms(run_theirs);
    state.SetIterationTime(t_ours / 1e3);
  }
  const double gflop = 2.0 * static_cast<double>(g.macs()) / 1e9;
  state.counters["GFLOP/s"] = gflop / (t_ours / 1e3);
  state.counters["cuDNN_GFLOP/s"] = gflop / (t_theirs / 1e3);
  state.counters["vs_cuDNN"] = t_ours / t_theirs;
  state.counters["ms"] = t_ours;
  state.counters["cuDNN_ms"] = t_theirs;
  state.counters["cuDNN_algo"] = algo;
  state.counters["rel_diff"] = err;
  // Which of our kernels ran: Winograd (conv_winograd.h) or the implicit GEMM.
  const bool winograd = cuda::conv::winograd_takes(g, cuda::conv_winograd());
  state.counters["winograd"] = winograd ? 1 : 0;
  // How many chunks of samples the pass ran in (V and M over the runtime's cap, conv_winograd.h).
  const Kernel kernel = kernel_of(pass, transposed);
  int chunks = 1;
  if (winograd) {
    const cuda::conv::WinogradGeom all =
        cuda::conv::winograd_geometry(g, kernel == Kernel::kBackwardData);
    const int per = cuda::conv::winograd_chunk_samples(all, cuda::winograd_chunk_bytes());
    chunks = (all.N + per - 1) / per;
  }
  state.counters["winograd_chunks"] = chunks;
  // 3xTF32: FP32's bound; Winograd rounds 10-20x more than a direct FP32 sum.
  const double bound = math == cuda::Math::kTF32 ? 1e-2 : winograd ? 1e-3 : 1e-4;
  if (!(err < bound))
    state.SkipWithError(str("results differ from cuDNN's: relative difference ", err).c_str());
  cuda::set_math(cuda::Math::kFP32);
}

void register_all() {
  for (cuda::Math math : {cuda::Math::kFP32, cuda::Math::kTF32, cuda::Math::kTF32x3})
    for (bool transposed : {false, true})
      for (const ConvShape& s : transposed ? decoder_shapes() : encoder_shapes())
        for (int pass = 0; pass < 3; ++pass)
          benchmark::RegisterBenchmark(
              (std::string(transposed ? "conv_transpose2d/" : "conv2d/") + s.name + "/" +
               std::to_string(s.in) + "to" + std::to_string(s.out) + "@" + std::to_string(s.hw) +
               "/" + kPassName[pass] + "/" + cuda::math_name(math))
                  .c_str(),
              run_conv, s, transposed, pass, math)
              ->Unit(benchmark::kMillisecond)
              ->UseManualTime()
              ->Iterations(1);
}

}  // namespace

int main(int argc, char** argv) {
  if (!cuda_available()) {
    std::fprintf(stderr, "bench_conv_cuda: no CUDA device\n");
    return 1;
  }
  benchmark::AddCustomContext("device", device_description());
  benchmark::AddCustomContext("winograd", cuda::winograd_name(cuda::conv_winograd()));
  benchmark::AddCustomContext("winograd_chunk_bytes", std::to_string(cuda::winograd_chunk_bytes()));
  register_all();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
