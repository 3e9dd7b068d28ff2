// Winograd F(4x4, 3x3) convolutions (conv_winograd.h): the weight and input transforms, the 36
// products on the implicit-GEMM mainloops, the output transform; and the weight gradient's. Used
// by conv2d_forward, conv2d_backward_data and conv2d_backward_weight (so by all three passes of
// a transposed convolution too) where winograd_takes says so.
#include "kernels/cuda/conv_gemm.cuh"
#include "kernels/cuda/conv_winograd.h"

namespace sire::cuda {
namespace {

// One thread's work of a transform (WinogradWeight, WinogradInput, WinogradOutput) per index.
template <class Work>
__global__ void winograd_transform_kernel(Work work) {
  SIRE_GRID_LOOP(i, work.threads()) { work.run(i); }
}

template <class Work>
void transform(const Work& work) {
  auto kernel = winograd_transform_kernel<Work>;
  SIRE_LAUNCH(kernel, grid_for(work.threads()), kBlock, work);
}

// The Winograd geometry of convolution g (with input_gradient, of its input gradient: the channel
// roles swapped), its transformed operands checked to fit the kernels' 32-bit indexing.
conv::WinogradGeom geometry(const char* op, const ConvGeom& g, bool input_gradient) {
  const auto i32 = [](int64_t v) { return static_cast<int>(v); };
  const conv::WinogradGeom wg =
      conv::WinogradGeom::make(i32(g.N), i32(input_gradient ? g.K : g.C),
                               i32(input_gradient ? g.C : g.K), i32(g.H), i32(g.W));
  for (int64_t v : {wg.u_floats(), wg.v_floats(), wg.m_floats()})
    SIRE_CHECK(v < (int64_t{1} << 31), op, ": Winograd's transformed operands (", v,
               " floats) are beyond the CUDA kernels' 32-bit indexing");
  return wg;
}

}  // namespace

bool winograd_conv(const char* op, const Tensor& in, const Tensor& w, const Tensor* bias,
                   Tensor& out, const ConvGeom& g, bool input_gradient) {
  if (!conv::winograd_takes(g, conv_winograd())) return false;
  const conv::WinogradGeom wg = geometry(op, g, input_gradient);
  Tensor u = scratch(wg.u_floats()), v = scratch(wg.v_floats()), m = scratch(wg.m_floats());
  transform(conv::WinogradWeight{w.data<float>(), u.data<float>(), wg.in, wg.out, input_gradient});
  transform(conv::WinogradInput{in.data<float>(), v.data<float>(), wg});
  conv::WinogradProduct p = conv::WinogradProduct::make(wg);
  p.u = u.data<float>();
  p.v = v.data<float>();
  p.m = m.data<float>();
  conv::run(op, p);
  transform(conv::WinogradOutput{m.data<float>(), bias ? bias->data<float>() : nullptr,
                                 out.data<float>(), wg});
  return true;
}

bool winograd_weight_grad(const char* op, const Tensor& x, const Tensor& dy, Tensor& dw,
                          const ConvGeom& g) {
  if (!conv::winograd_takes(g, conv_winograd())) return false;
  const conv::WinogradGeom wg = geometry(op, g, false);
  Tensor v = scratch(wg.v_floats()), dm = scratch(wg.m_floats()), du = scratch(wg.u_floats());
  transform(conv::WinogradInput{x.data<float>(), v.data<float>(), wg});
  transform(conv::WinogradOutputGrad{dy.data<float>(), dm.data<float>(), wg});
  conv::WinogradWeightProduct p = conv::WinogradWeightProduct::make(wg);
  p.dm = dm.data<float>();
  p.v = v.data<float>();
  p.du = du.data<float>();
  conv::run(op, p);
  transform(conv::WinogradWeightGrad{du.data<float>(), dw.data<float>(), wg.in, wg.out});
  return true;
}

}  // namespace sire::cuda
