// Convolution backward-data (and so a transposed convolution's forward): the weight rearranged
// to wd[tap][k][c], then the gathering implicit GEMM of conv_problems.h's BackwardData.
#include "kernels/cuda/conv_gemm.cuh"

namespace sire::cuda {
namespace {

__global__ void weight_for_backward_data_kernel(const float* w, float* wd, int K, int C, int taps) {
  SIRE_GRID_LOOP(i, static_cast<int64_t>(K) * C * taps) {
    wd[i] = w[conv::weight_for_backward_data(i, K, C, taps)];
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
  const int taps = p.g.R * p.g.S;
  Tensor wd = scratch(w.numel());
  SIRE_LAUNCH(weight_for_backward_data_kernel, grid_for(w.numel()), kBlock, w.data<float>(),
              wd.data<float>(), p.g.K, p.g.C, taps);
  p.dy = dy.data<float>();
  p.wd = wd.data<float>();
  p.dx = dx.data<float>();
  conv::run("conv2d_backward_data", p);
}

}  // namespace sire::cuda
