// Convolution backward-weight: the implicit GEMM of conv_problems.h's BackwardWeight, whose long
// reduction over pixels the plan (conv_plan.h) usually splits across blocks; 3x3 "same" stride-1
// convolutions with enough channels by Winograd (conv_winograd.cu) where conv::winograd_takes
// says so.
#include "kernels/cuda/conv_gemm.cuh"

namespace sire::cuda {

void CudaBackend::conv2d_backward_weight(const Tensor& x, const Tensor& dy, Tensor& dw,
                                         const ConvGeom& g) {
  require_f32("conv2d_backward_weight", x, dy, dw);
  if (dw.numel() == 0) return;
  conv::BackwardWeight p = conv::BackwardWeight::make(conv::geom32("conv2d_backward_weight", g));
  if (p.ktiles == 0) {  // no pixels: an empty sum
    fill(dw, 0.0);
    return;
  }
  if (winograd_weight_grad("conv2d_backward_weight", x, dy, dw, g)) return;
  p.x = x.data<float>();
  p.dy = dy.data<float>();
  p.dw = dw.data<float>();
  conv::run("conv2d_backward_weight", p);
}

}  // namespace sire::cuda
