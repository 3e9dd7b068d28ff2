// Winograd F(4x4, 3x3) convolutions (conv_winograd.h): the weight and input transforms, the 36
// products on the implicit-GEMM mainloops, the output transform; and the weight gradient's. Used
// by conv2d_forward, conv2d_backward_data and conv2d_backward_weight (so by all three passes of
// a transposed convolution too) where winograd_takes says so.
#include "kernels/cuda/conv_gemm.cuh"
#include "kernels/cuda/conv_winograd.h"

#include <algorithm>

namespace sire::cuda {
namespace {

// A transform (WinogradWeight, WinogradInput, ...): its thread work for each of its threads.
template <class Work>
void transform(const Work& work) {
  launch_per_index(work, work.threads());
}

// g, checked to fit the kernels' 32-bit indexing of U, V and M.
conv::WinogradGeom checked(const char* op, const conv::WinogradGeom& g) {
  for (int64_t v : {g.u_floats(), g.v_floats(), g.m_floats()})
    SIRE_CHECK(v < (int64_t{1} << 31), op, ": Winograd's transformed operands (", v,
               " floats) are beyond the CUDA kernels' 32-bit indexing");
  return g;
}

}  // namespace

bool winograd_conv(const char* op, const Tensor& in, const Tensor& w, const Tensor* bias,
                   Tensor& out, const ConvGeom& g, bool input_gradient) {
  if (!conv::winograd_takes(g, conv_winograd())) return false;
  // The batch in chunks whose V and M fit the runtime's cap (conv_winograd.h), on one scratch.
  const conv::WinogradGeom all = conv::winograd_geometry(g, input_gradient);
  const int per = conv::winograd_chunk_samples(all, winograd_chunk_bytes());
  const conv::WinogradGeom most = checked(op, conv::winograd_chunk(all, 0, per).g);
  Tensor u = scratch(most.u_floats()), v = scratch(most.v_floats()), m = scratch(most.m_floats());
  transform(
      conv::WinogradWeight{w.data<float>(), u.data<float>(), all.in, all.out, input_gradient});
  for (int n0 = 0; n0 < all.N; n0 += per) {
    const conv::WinogradChunk c = conv::winograd_chunk(all, n0, std::min(per, all.N - n0));
    transform(conv::WinogradInput{in.data<float>() + c.in_offset, v.data<float>(), c.g});
    conv::WinogradProduct p = conv::WinogradProduct::make(c.g);
    p.u = u.data<float>();
    p.v = v.data<float>();
    p.m = m.data<float>();
    conv::run(op, p);
    transform(conv::WinogradOutput{m.data<float>(), bias ? bias->data<float>() : nullptr,
                                   out.data<float>() + c.out_offset, c.g});
  }
  return true;
}

bool winograd_weight_grad(const char* op, const Tensor& x, const Tensor& dy, Tensor& dw,
                          const ConvGeom& g) {
  if (!conv::winograd_takes(g, conv_winograd())) return false;
  // The batch in chunks whose V and dM fit the runtime's cap (conv_winograd.h), each chunk's
  // products added to dU.
  const conv::WinogradGeom all = conv::winograd_geometry(g, false);
  const int per = conv::winograd_chunk_samples(all, winograd_chunk_bytes());
  const conv::WinogradGeom most = checked(op, conv::winograd_chunk(all, 0, per).g);
  Tensor v = scratch(most.v_floats()), dm = scratch(most.m_floats()), du = scratch(most.u_floats());
  for (int n0 = 0; n0 < all.N; n0 += per) {
    const conv::WinogradChunk c = conv::winograd_chunk(all, n0, std::min(per, all.N - n0));
    transform(conv::WinogradInput{x.data<float>() + c.in_offset, v.data<float>(), c.g});
    transform(conv::WinogradOutputGrad{dy.data<float>() + c.out_offset, dm.data<float>(), c.g});
    conv::WinogradWeightProduct p = conv::WinogradWeightProduct::make(c.g);
    p.dm = dm.data<float>();
    p.v = v.data<float>();
    p.du = du.data<float>();
    p.accumulate = n0 > 0;
    conv::run(op, p);
  }
  transform(conv::WinogradWeightGrad{du.data<float>(), dw.data<float>(), all.in, all.out});
  return true;
}

}  // namespace sire::cuda
