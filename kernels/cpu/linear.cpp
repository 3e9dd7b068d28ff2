// Dense layers on the CPU: three GEMMs and a column sum.
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/parallel.h"

namespace sire::cpu {

void CpuBackend::linear_forward(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y) {
  dispatch_float(x, "linear", [&](auto tag) {
    using T = decltype(tag);
    const int64_t N = x.size(0), I = x.size(1), O = w.size(0);
    T* py = y.data<T>();
    parallel_gemm<T>(false, true, N, O, I, T(1), x.data<T>(), I, w.data<T>(), I, T(0), py, O);
    if (!bias) return;
    const T* pb = bias->data<T>();
    parallel_for(0, N, 16, [&](int64_t lo, int64_t hi) {
      for (int64_t n = lo; n < hi; ++n)
        for (int64_t o = 0; o < O; ++o) py[n * O + o] += pb[o];
    });
  });
}

void CpuBackend::linear_backward(const Tensor& dy, const Tensor& x, const Tensor& w, Tensor* dx,
                                 Tensor* dw, Tensor* dbias) {
  dispatch_float(x, "linear_backward", [&](auto tag) {
    using T = decltype(tag);
    const int64_t N = x.size(0), I = x.size(1), O = w.size(0);
    const T* pdy = dy.data<T>();
    if (dx) parallel_gemm<T>(false, false, N, I, O, T(1), pdy, O, w.data<T>(), I, T(0), dx->data<T>(), I);
    if (dw) parallel_gemm<T>(true, false, O, I, N, T(1), pdy, O, x.data<T>(), I, T(0), dw->data<T>(), I);
    if (!dbias) return;
    T* pb = dbias->data<T>();
    parallel_for(0, O, 64, [&](int64_t lo, int64_t hi) {
      for (int64_t o = lo; o < hi; ++o) {
        double s = 0.0;
        for (int64_t n = 0; n < N; ++n) s += pdy[n * O + o];
        pb[o] = static_cast<T>(s);
      }
    });
  });
}

}  // namespace sire::cpu
