// Batch normalization on the CPU, one channel per task, optionally fused with the ReLU that
// follows it. Statistics are summed in double, the variance in a second pass around the mean
// (no cancellation from E[x^2] - E[x]^2).
#include <cmath>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/parallel.h"

namespace sire::cpu {
namespace {

struct Layout {
  int64_t N, C, inner;  // x is [N, C, inner]
  explicit Layout(const Tensor& x)
      : N(x.size(0)), C(x.size(1)), inner(x.numel() / (x.size(0) * x.size(1))) {}
  int64_t count() const { return N * inner; }
  int64_t at(int64_t n, int64_t c) const { return (n * C + c) * inner; }
};

// Channel c: y = gamma (x - mean) invstd + beta, then max(0, y) when fused with a ReLU.
template <class T>
void normalize_channel(const T* x, const T* gamma, const T* beta, const T* mean,
                       const T* invstd, T* y, const Layout& l, bool relu, int64_t c) {
  const T a = gamma[c] * invstd[c], b = beta[c] - mean[c] * a;
  for (int64_t n = 0; n < l.N; ++n) {
    const T* in = x + l.at(n, c);
    T* out = y + l.at(n, c);
    if (relu) {
      for (int64_t i = 0; i < l.inner; ++i) out[i] = std::max(in[i] * a + b, T(0));
    } else {
      for (int64_t i = 0; i < l.inner; ++i) out[i] = in[i] * a + b;
    }
  }
}

template <class T>
void normalize(const T* x, const T* gamma, const T* beta, const T* mean, const T* invstd, T* y,
               const Layout& l, bool relu) {
  parallel_for(0, l.C, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t c = lo; c < hi; ++c) normalize_channel(x, gamma, beta, mean, invstd, y, l, relu, c);
  });
}

template <class T>
void forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& y,
                   Tensor& mean, Tensor& invstd, Tensor* running_mean, Tensor* running_var,
                   double momentum, double eps, bool relu) {
  const Layout l(x);
  const T* px = x.data<T>();
  T *pm = mean.data<T>(), *ps = invstd.data<T>();
  T* rm = running_mean ? running_mean->data<T>() : nullptr;
  T* rv = running_var ? running_var->data<T>() : nullptr;
  const double m = static_cast<double>(l.count());
  const T *pg = gamma.data<T>(), *pb = beta.data<T>();
  T* py = y.data<T>();
  parallel_for(0, l.C, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t c = lo; c < hi; ++c) {
      // `omp simd` lets the sums run in vector lanes (a fixed split: the same bits every run).
      double s = 0.0;
      for (int64_t n = 0; n < l.N; ++n) {
        const T* row = px + l.at(n, c);
#pragma omp simd reduction(+ : s)
        for (int64_t i = 0; i < l.inner; ++i) s += row[i];
      }
      const double mu = s / m;
      double ss = 0.0;
      for (int64_t n = 0; n < l.N; ++n) {
        const T* row = px + l.at(n, c);
#pragma omp simd reduction(+ : ss)
        for (int64_t i = 0; i < l.inner; ++i) ss += (row[i] - mu) * (row[i] - mu);
      }
      const double var = ss / m;
      pm[c] = static_cast<T>(mu);
      ps[c] = static_cast<T>(1.0 / std::sqrt(var + eps));
      if (rm) rm[c] = static_cast<T>((1.0 - momentum) * rm[c] + momentum * mu);
      if (rv) rv[c] = static_cast<T>((1.0 - momentum) * rv[c] + momentum * var * m / (m - 1.0));
      // Normalized while the channel (N x inner values: 256 KiB at 64 x 32 x 32) is still in
      // this core's L2, instead of in a third pass over the whole tensor.
      normalize_channel(px, pg, pb, pm, ps, py, l, relu, c);
    }
  });
}

template <class T>
void forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                  const Tensor& running_mean, const Tensor& running_var, double eps, Tensor& y,
                  Tensor& mean, Tensor& invstd, bool relu) {
  const Layout l(x);
  T *pm = mean.data<T>(), *ps = invstd.data<T>();
  for (int64_t c = 0; c < l.C; ++c) {
    pm[c] = running_mean.data<T>()[c];
    ps[c] = static_cast<T>(1.0 / std::sqrt(static_cast<double>(running_var.data<T>()[c]) + eps));
  }
  normalize(x.data<T>(), gamma.data<T>(), beta.data<T>(), pm, ps, y.data<T>(), l, relu);
}

// With a fused ReLU (Relu = true), dy counts only where the output y is positive.
template <class T, bool Relu>
void backward(const Tensor& dy, const Tensor* y, const Tensor& x, const Tensor& gamma,
              const Tensor& mean, const Tensor& invstd, bool training, Tensor* dx, Tensor* dgamma,
              Tensor* dbeta) {
  const Layout l(x);
  const T *px = x.data<T>(), *pdy = dy.data<T>(), *pg = gamma.data<T>();
  const T* py = Relu ? y->data<T>() : nullptr;
  const T *pm = mean.data<T>(), *ps = invstd.data<T>();
  T* pdx = dx ? dx->data<T>() : nullptr;
  const double m = static_cast<double>(l.count());
  parallel_for(0, l.C, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t c = lo; c < hi; ++c) {
      const T mu = pm[c], is = ps[c];
      double sum_dy = 0.0, sum_dy_xc = 0.0;  // sum of dy, and of dy (x - mean)
      for (int64_t n = 0; n < l.N; ++n) {
        const T* xr = px + l.at(n, c);
        const T* gr = pdy + l.at(n, c);
        const T* yr = Relu ? py + l.at(n, c) : nullptr;
#pragma omp simd reduction(+ : sum_dy, sum_dy_xc)
        for (int64_t i = 0; i < l.inner; ++i) {
          // A mask multiply, not a branch: GCC will not if-convert a select inside this
          // reduction, and random signs would mispredict half the time.
          const T g = Relu ? gr[i] * static_cast<T>(yr[i] > T(0)) : gr[i];
          sum_dy += g;
          sum_dy_xc += g * (xr[i] - mu);
        }
      }
      const double sum_dy_xhat = sum_dy_xc * is;
      if (dgamma) dgamma->data<T>()[c] = static_cast<T>(sum_dy_xhat);
      if (dbeta) dbeta->data<T>()[c] = static_cast<T>(sum_dy);
      if (!pdx) continue;
      // Training: the batch statistics depend on x too, which adds the two mean terms:
      // dx = k (dy - mean(dy) - xhat mean(dy xhat)), k = gamma invstd.
      const T k = static_cast<T>(pg[c] * is);
      const T mean_dy = static_cast<T>(training ? sum_dy / m : 0.0);
      const T coef = static_cast<T>(training ? sum_dy_xhat / m * is : 0.0);  // per unit (x - mean)
      for (int64_t n = 0; n < l.N; ++n) {
        const T* xr = px + l.at(n, c);
        const T* gr = pdy + l.at(n, c);
        const T* yr = Relu ? py + l.at(n, c) : nullptr;
        T* out = pdx + l.at(n, c);
#pragma omp simd
        for (int64_t i = 0; i < l.inner; ++i) {
          const T g = Relu ? gr[i] * static_cast<T>(yr[i] > T(0)) : gr[i];
          out[i] = k * (g - mean_dy - (xr[i] - mu) * coef);
        }
      }
    }
  });
}

}  // namespace

void CpuBackend::batch_norm_forward_train(const Tensor& x, const Tensor& gamma,
                                          const Tensor& beta, Tensor& y, Tensor& mean,
                                          Tensor& invstd, Tensor* running_mean,
                                          Tensor* running_var, double momentum, double eps) {
  dispatch_float(x, "batch_norm", [&](auto tag) {
    forward_train<decltype(tag)>(x, gamma, beta, y, mean, invstd, running_mean, running_var,
                                 momentum, eps, false);
  });
}

void CpuBackend::batch_norm_relu_forward_train(const Tensor& x, const Tensor& gamma,
                                               const Tensor& beta, Tensor& y, Tensor& mean,
                                               Tensor& invstd, Tensor* running_mean,
                                               Tensor* running_var, double momentum, double eps) {
  dispatch_float(x, "batch_norm_relu", [&](auto tag) {
    forward_train<decltype(tag)>(x, gamma, beta, y, mean, invstd, running_mean, running_var,
                                 momentum, eps, true);
  });
}

void CpuBackend::batch_norm_forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                         const Tensor& running_mean, const Tensor& running_var,
                                         double eps, Tensor& y, Tensor& mean, Tensor& invstd) {
  dispatch_float(x, "batch_norm", [&](auto tag) {
    forward_eval<decltype(tag)>(x, gamma, beta, running_mean, running_var, eps, y, mean, invstd,
                                false);
  });
}

void CpuBackend::batch_norm_relu_forward_eval(const Tensor& x, const Tensor& gamma,
                                              const Tensor& beta, const Tensor& running_mean,
                                              const Tensor& running_var, double eps, Tensor& y,
                                              Tensor& mean, Tensor& invstd) {
  dispatch_float(x, "batch_norm_relu", [&](auto tag) {
    forward_eval<decltype(tag)>(x, gamma, beta, running_mean, running_var, eps, y, mean, invstd,
                                true);
  });
}

void CpuBackend::batch_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma,
                                     const Tensor& mean, const Tensor& invstd, bool training,
                                     Tensor* dx, Tensor* dgamma, Tensor* dbeta) {
  dispatch_float(x, "batch_norm_backward", [&](auto tag) {
    backward<decltype(tag), false>(dy, nullptr, x, gamma, mean, invstd, training, dx, dgamma, dbeta);
  });
}

void CpuBackend::batch_norm_relu_backward(const Tensor& dy, const Tensor& y, const Tensor& x,
                                          const Tensor& gamma, const Tensor& mean,
                                          const Tensor& invstd, bool training, Tensor* dx,
                                          Tensor* dgamma, Tensor* dbeta) {
  dispatch_float(x, "batch_norm_relu_backward", [&](auto tag) {
    backward<decltype(tag), true>(dy, &y, x, gamma, mean, invstd, training, dx, dgamma, dbeta);
  });
}

}  // namespace sire::cpu
