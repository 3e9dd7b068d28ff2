// Convolution backward-data (and so a transposed convolution's forward): the weight rearranged
// to wd[tap][k][c], then the gathering implicit GEMM of conv_problems.h's BackwardData, or with
// at most 8 input channels its FewChannelsBackwardData (one thread per input pixel); 3x3 "same"
// stride-1 convolutions with enough channels by Winograd (conv_winograd.cu), the flipped kernel's
// forward.
#include "kernels/cuda/conv_few_channels.h"
#include "kernels/cuda/conv_gemm.cuh"

namespace sire::cuda {
namespace {

__global__ void weight_for_backward_data_kernel(const float* w, float* wd, int K, int C, int taps) {
  SIRE_GRID_LOOP(i, static_cast<int64_t>(K) * C * taps) {
    wd[i] = w[conv::weight_for_backward_data(i, K, C, taps)];
  }
}

// Few input channels (conv_few_channels.h): the block copies wd (at most kFewWeights floats, 24 KB)
// to shared memory once, then each thread computes every channel of its input pixels. NC, the
// channel count, is a template so that the accumulators stay in registers.
template <int NC>
__global__ void few_channels_backward_data_kernel(conv::FewChannelsBackwardData p, const float* wd,
                                                  int weights) {
  __shared__ float w[conv::kFewWeights];
  for (int i = threadIdx.x; i < weights; i += blockDim.x) w[i] = wd[i];
  __syncthreads();
  SIRE_GRID_LOOP(col, static_cast<int64_t>(p.g.N) * p.g.H * p.g.W) {
    p.pixel<NC>(static_cast<int>(col), w);
  }
}

}  // namespace

void CudaBackend::conv2d_backward_data(const Tensor& dy, const Tensor& w, Tensor& dx,
                                       const ConvGeom& g) {
  require_f32("conv2d_backward_data", dy, w, dx);
  if (dx.numel() == 0) return;
  conv::BackwardData p = conv::BackwardData::make(conv::geom32("conv2d_backward_data", g));
  if (p.ktiles == 0 || g.P * g.Q == 0) {  // nothing reads dx
    fill(dx, 0.0);
    return;
  }
  if (winograd_conv("conv2d_backward_data", dy, w, nullptr, dx, g, true)) return;
  const int taps = p.g.R * p.g.S;
  Tensor wd = scratch(w.numel());
  SIRE_LAUNCH(weight_for_backward_data_kernel, grid_for(w.numel()), kBlock, w.data<float>(),
              wd.data<float>(), p.g.K, p.g.C, taps);
  if (p.g.C <= conv::kFewChannels && w.numel() <= conv::kFewWeights) {
    const conv::FewChannelsBackwardData few{dy.data<float>(), dx.data<float>(), p.g};
    const int weights = static_cast<int>(w.numel());
    conv::with_channel_count(p.g.C, [&](auto nc) {
      auto few_channels_kernel = few_channels_backward_data_kernel<decltype(nc)::value>;
      SIRE_LAUNCH(few_channels_kernel, grid_for(static_cast<int64_t>(p.g.N) * p.g.H * p.g.W),
                  kBlock, few, wd.data<float>(), weights);
    });
    return;
  }
  p.dy = dy.data<float>();
  p.wd = wd.data<float>();
  p.dx = dx.data<float>();
  conv::run("conv2d_backward_data", p);
}

}  // namespace sire::cuda
