// Dense layers on cuBLAS. Our tensors are row-major and cuBLAS is column-major; a row-major
// [r, c] matrix is the column-major [c, r] one, its transpose. So y = x w^T (row-major [N, O])
// is computed as the column-major y^T = w x^T, and likewise for the two gradients:
//   y^T  [O, N] = op_T(w buffer: col-major [I, O]) * (x buffer: col-major [I, N])
//   dx^T [I, N] = (w buffer: col-major [I, O]) * (dy buffer: col-major [O, N])
//   dw^T [I, O] = (x buffer: col-major [I, N]) * op_T(dy buffer: col-major [O, N])
#include "kernels/cuda/context.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/launch.cuh"

namespace sire::cuda {
namespace {

// dbias[o] = sum over rows of dy[n][o]: one thread per column, rows in order (deterministic).
__global__ void column_sum_kernel(const float* dy, float* out, int N, int O) {
  const int o = blockIdx.x * blockDim.x + threadIdx.x;
  if (o >= O) return;
  double s = 0.0;
  for (int n = 0; n < N; ++n) s += dy[static_cast<int64_t>(n) * O + o];
  out[o] = static_cast<float>(s);
}

int as_int(int64_t v) { return static_cast<int>(v); }

}  // namespace

void CudaBackend::linear_forward(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y) {
  require_f32("linear", x, w, y);
  if (bias) require_f32("linear", *bias);
  const int N = as_int(x.size(0)), I = as_int(x.size(1)), O = as_int(w.size(0));
  if (N == 0 || O == 0) return;
  if (I == 0) {  // an empty sum
    fill(y, 0.0);
  } else {
    const float one = 1.0f, zero = 0.0f;
    SIRE_CUBLAS_CHECK(cublasSgemm(cublas_handle(), CUBLAS_OP_T, CUBLAS_OP_N, O, N, I, &one,
                                  w.data<float>(), I, x.data<float>(), I, &zero, y.data<float>(),
                                  O));
  }
  if (bias) bias_add(y, *bias);
}

void CudaBackend::linear_backward(const Tensor& dy, const Tensor& x, const Tensor& w, Tensor* dx,
                                  Tensor* dw, Tensor* dbias) {
  require_f32("linear_backward", dy, x, w);
  for (Tensor* t : {dx, dw, dbias})
    if (t) require_f32("linear_backward", *t);
  const int N = as_int(x.size(0)), I = as_int(x.size(1)), O = as_int(w.size(0));
  const float one = 1.0f, zero = 0.0f;
  if (dx && dx->numel() > 0) {
    if (O == 0)
      fill(*dx, 0.0);
    else
      SIRE_CUBLAS_CHECK(cublasSgemm(cublas_handle(), CUBLAS_OP_N, CUBLAS_OP_N, I, N, O, &one,
                                    w.data<float>(), I, dy.data<float>(), O, &zero,
                                    dx->data<float>(), I));
  }
  if (dw && dw->numel() > 0) {
    if (N == 0)
      fill(*dw, 0.0);
    else
      SIRE_CUBLAS_CHECK(cublasSgemm(cublas_handle(), CUBLAS_OP_N, CUBLAS_OP_T, I, O, N, &one,
                                    x.data<float>(), I, dy.data<float>(), O, &zero,
                                    dw->data<float>(), I));
  }
  if (dbias && O > 0)
    SIRE_LAUNCH(column_sum_kernel, (O + kBlock - 1) / kBlock, kBlock, dy.data<float>(),
                dbias->data<float>(), N, O);
}

}  // namespace sire::cuda
