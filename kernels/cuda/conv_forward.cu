// Convolution forward: the weight rearranged to wt[tap][c][k] (so that consecutive threads read
// consecutive output channels), then the implicit GEMM of conv_problems.h's Forward, with the
// bias added as each output is stored; with at most 8 input channels, FewChannelsForward (one
// thread per output pixel and 32 output channels); 3x3 "same" convolutions with enough channels
// by Winograd (conv_winograd.cu) where conv::winograd_takes says so.
#include "kernels/cuda/conv_few_channels.h"
#include "kernels/cuda/conv_gemm.cuh"

namespace sire::cuda {
namespace {

__global__ void weight_for_forward_kernel(const float* w, float* wt, int K, int C, int taps) {
  SIRE_GRID_LOOP(i, static_cast<int64_t>(K) * C * taps) {
    wt[i] = w[conv::weight_for_forward(i, K, C, taps)];
  }
}

// Few input channels (conv_few_channels.h): block (x, y) copies the weights of output channels
// [y kFewOut, (y + 1) kFewOut) to shared memory, then each thread computes those channels of its
// output pixels.
__global__ void few_channels_forward_kernel(conv::FewChannelsForward p) {
  __shared__ __align__(16) float wc[conv::kFewWeights];
  const int k0 = blockIdx.y * conv::kFewOut, weights = p.weights();
  for (int i = threadIdx.x; i < weights; i += blockDim.x) wc[i] = p.weight(i, k0);
  __syncthreads();
  SIRE_GRID_LOOP(col, static_cast<int64_t>(p.g.N) * p.g.P * p.g.Q) {
    p.pixel(static_cast<int>(col), k0, wc);
  }
}

}  // namespace

void CudaBackend::conv2d_forward(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y,
                                 const ConvGeom& g) {
  require_f32("conv2d", x, w, y);
  if (bias) require_f32("conv2d", *bias);
  if (y.numel() == 0) return;
  conv::Forward p = conv::Forward::make(conv::geom32("conv2d", g));
  if (p.ktiles == 0) {  // no input channels: an empty sum, the bias alone
    fill(y, 0.0);
    if (bias) bias_add(y, *bias);
    return;
  }
  if (winograd_conv("conv2d", x, w, bias, y, g, false)) return;
  const int taps = p.g.R * p.g.S;
  if (p.g.C <= conv::kFewChannels && p.g.C * taps * conv::kFewOut <= conv::kFewWeights) {
    const conv::FewChannelsForward few{x.data<float>(), w.data<float>(),
                                       bias ? bias->data<float>() : nullptr, y.data<float>(), p.g};
    const int64_t k_blocks = (p.g.K + conv::kFewOut - 1) / conv::kFewOut;
    SIRE_CHECK(k_blocks < 65536, "conv2d: ", p.g.K, " output channels exceed the grid of the ",
               "few-channel kernel (", 65535 * conv::kFewOut, " at most)");
    const dim3 grid(grid_for(static_cast<int64_t>(p.g.N) * p.g.P * p.g.Q),
                    static_cast<unsigned>(k_blocks));
    SIRE_LAUNCH(few_channels_forward_kernel, grid, kBlock, few);
    return;
  }
  Tensor wt = scratch(w.numel());
  SIRE_LAUNCH(weight_for_forward_kernel, grid_for(w.numel()), kBlock, w.data<float>(),
              wt.data<float>(), p.g.K, p.g.C, taps);
  p.x = x.data<float>();
  p.wt = wt.data<float>();
  p.bias = bias ? bias->data<float>() : nullptr;
  p.y = y.data<float>();
  conv::run("conv2d", p);
}

}  // namespace sire::cuda
