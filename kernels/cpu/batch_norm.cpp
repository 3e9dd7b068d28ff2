// Batch normalization on the CPU, one channel per task, optionally fused with the ReLU that
// follows it. Statistics are summed in float lanes flushed into double (channel_sums), the
// variance in a second pass around the mean (no cancellation from E[x^2] - E[x]^2). The fused
// ReLU's backward recomputes its mask from x instead of reading the output. A residual summed
// before the ReLU may have fewer channels than x: the missing ones add nothing, and are not
// read. Outputs of 4 MiB and more are written past the caches (streaming stores), in the plain
// loops' operations.
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "kernels/cpu/avx512_intrinsics.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/streaming.h"

namespace sire::cpu {
namespace {

struct Layout {
  int64_t N, C, inner;  // x is [N, C, inner]
  explicit Layout(const Tensor& x)
      : N(x.size(0)), C(x.size(1)), inner(x.numel() / (x.size(0) * x.size(1))) {}
  int64_t count() const { return N * inner; }
  int64_t at(int64_t n, int64_t c) const { return (n * C + c) * inner; }
  // Whether an output of this layout is written past the caches (streaming.h).
  bool streamed(int64_t elem_bytes) const { return N * C * inner * elem_bytes >= kStreamBytes; }
};

// Two sums over the values of one channel, f(n, i, u, v) giving the terms u and v of value i of
// row n (with Two = false, one: f(n, i, u, v) leaves v alone, and s2 is 0). The terms go into 64
// lanes of T: four vectors of 16 floats, four independent chains of adds (one chain would wait out
// every add's latency). The lanes are flushed into lanes of double every kFlush values or more, at
// row ends, and added in a fixed order at the end: float arithmetic where double was twice the
// vector work and a conversion a value, with about kFlush / kLanes terms summed in float a lane (up
// to kFlush / inner when rows are shorter than kLanes values and fill only their first lanes). The
// split depends on the shape only: the same bits on any number of threads.
constexpr int kLanes = 64;
constexpr int64_t kFlush = 4096;

template <class T, bool Two = true, class F>
void channel_sums(const Layout& l, const F& f, double& s1, double& s2) {
  alignas(64) T a[kLanes] = {}, b[kLanes] = {};
  alignas(64) double da[kLanes] = {}, db[kLanes] = {};
  auto flush = [&] {
#pragma omp simd
    for (int j = 0; j < kLanes; ++j) {
      da[j] += a[j], db[j] += b[j];
      a[j] = T(0), b[j] = T(0);
    }
  };
  int64_t since_flush = 0;
  for (int64_t n = 0; n < l.N; ++n) {
    int64_t i = 0;
    for (; i + kLanes <= l.inner; i += kLanes) {
#pragma omp simd
      for (int j = 0; j < kLanes; ++j) {
        T u, v = T(0);
        f(n, i + j, u, v);
        a[j] += u;
        if constexpr (Two) b[j] += v;
      }
    }
    for (int j = 0; i < l.inner; ++i, ++j) {
      T u, v = T(0);
      f(n, i, u, v);
      a[j] += u;
      if constexpr (Two) b[j] += v;
    }
    since_flush += l.inner;
    if (since_flush >= kFlush || n + 1 == l.N) {
      flush();
      since_flush = 0;
    }
  }
  // The lanes in four interleaved chains of locals, then the chains pairwise: one chain through
  // the references (every add waiting on a store and its reload) was most of a batch norm's
  // time on small planes.
  double t1[4] = {}, t2[4] = {};
  for (int j = 0; j < kLanes; j += 4)
    for (int k = 0; k < 4; ++k) t1[k] += da[j + k], t2[k] += db[j + k];
  s1 = (t1[0] + t1[1]) + (t1[2] + t1[3]);
  s2 = (t2[0] + t2[1]) + (t2[2] + t2[3]);
}

// Channel c normalizes as y = x a + b, a = gamma invstd, b = beta - mean a, one fused
// multiply-add a value: spelled out (std::fma), so that the backward pass, which recomputes
// where a fused ReLU's output was positive, gets the same bits whatever the compiler contracts.
template <class T>
struct Affine {
  T a, b;
  Affine(const T* gamma, const T* beta, const T* mean, const T* invstd, int64_t c)
      : a(gamma[c] * invstd[c]), b(std::fma(-mean[c], a, beta[c])) {}
  T operator()(T x) const { return std::fma(x, a, b); }
};

// Orders this thread's streaming stores before whatever the caller does next.
inline void store_fence() {
#if defined(__AVX512F__)
  _mm_sfence();
#endif
}

// One row of a channel written with streaming stores, the same operations as the loops of
// normalize_channel (fma, then the add and the ReLU in its place; max(0, t) keeps a NaN as
// std::max(t, 0) does); false where it does not apply (not float, no AVX-512, a row not whole
// aligned vectors), and nothing is written then.
template <class T>
bool normalize_row_streamed(const T* in, T* out, int64_t inner, const Affine<T>& f, bool relu,
                            const T* skip, bool add_before_relu) {
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float>) {
    if (inner % 16 != 0 || (reinterpret_cast<uintptr_t>(out) & 63) != 0) return false;
    const __m512 a = _mm512_set1_ps(f.a), b = _mm512_set1_ps(f.b), zero = _mm512_setzero_ps();
    for (int64_t i = 0; i < inner; i += 16) {
      __m512 t = _mm512_fmadd_ps(_mm512_loadu_ps(in + i), a, b);
      if (skip && (add_before_relu || !relu)) t = _mm512_add_ps(t, _mm512_loadu_ps(skip + i));
      if (relu) t = _mm512_max_ps(zero, t);
      if (skip && relu && !add_before_relu) t = _mm512_add_ps(t, _mm512_loadu_ps(skip + i));
      _mm512_stream_ps(out + i, t);
    }
    return true;
  }
#endif
  (void)in, (void)out, (void)inner, (void)f, (void)relu, (void)skip, (void)add_before_relu;
  return false;
}

// The tensor summed into the output (BnAdd), as the rows it adds: a residual may have fewer
// channels than x, and its missing ones add nothing (null rows).
template <class T>
struct AddRows {
  const T* p = nullptr;
  int64_t C = 0;  // its channels
  bool before_relu = false;
  AddRows(const BnAdd& add)
      : p(add.tensor ? add.tensor->data<T>() : nullptr),
        C(add.tensor ? add.tensor->size(1) : 0),
        before_relu(add.before_relu) {}
  const T* row(const Layout& l, int64_t n, int64_t c) const {
    return p && c < C ? p + (n * C + c) * l.inner : nullptr;
  }
};

// Channel c: y = gamma (x - mean) invstd + beta, then max(0, y) when fused with a ReLU, with
// `add` (a skip connection or a residual) summed after or before the ReLU when given.
template <class T>
void normalize_channel(const T* x, const T* gamma, const T* beta, const T* mean, const T* invstd,
                       T* y, const Layout& l, bool relu, const AddRows<T>& add, int64_t c,
                       bool stream) {
  const Affine<T> f(gamma, beta, mean, invstd, c);
  const bool add_before_relu = add.before_relu;
  for (int64_t n = 0; n < l.N; ++n) {
    const T* in = x + l.at(n, c);
    T* out = y + l.at(n, c);
    const T* skip = add.row(l, n, c);
    if (stream && normalize_row_streamed(in, out, l.inner, f, relu, skip, add_before_relu))
      continue;
    if (skip) {
      if (relu && add_before_relu) {
#pragma omp simd
        for (int64_t i = 0; i < l.inner; ++i) out[i] = std::max(f(in[i]) + skip[i], T(0));
      } else if (relu) {
#pragma omp simd
        for (int64_t i = 0; i < l.inner; ++i) out[i] = std::max(f(in[i]), T(0)) + skip[i];
      } else {
#pragma omp simd
        for (int64_t i = 0; i < l.inner; ++i) out[i] = f(in[i]) + skip[i];
      }
    } else if (relu) {
#pragma omp simd
      for (int64_t i = 0; i < l.inner; ++i) out[i] = std::max(f(in[i]), T(0));
    } else {
#pragma omp simd
      for (int64_t i = 0; i < l.inner; ++i) out[i] = f(in[i]);
    }
  }
}

template <class T>
void normalize(const T* x, const T* gamma, const T* beta, const T* mean, const T* invstd, T* y,
               const Layout& l, bool relu, const AddRows<T>& add) {
  const bool stream = l.streamed(sizeof(T));
  parallel_for(0, l.C, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t c = lo; c < hi; ++c)
      normalize_channel(x, gamma, beta, mean, invstd, y, l, relu, add, c, stream);
    if (stream) store_fence();
  });
}

template <class T>
void forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& y,
                   Tensor& mean, Tensor& invstd, Tensor* running_mean, Tensor* running_var,
                   double momentum, double eps, bool relu, const BnAdd& add) {
  const Layout l(x);
  const T* px = x.data<T>();
  const AddRows<T> rows(add);
  T *pm = mean.data<T>(), *ps = invstd.data<T>();
  T* rm = running_mean ? running_mean->data<T>() : nullptr;
  T* rv = running_var ? running_var->data<T>() : nullptr;
  const double m = static_cast<double>(l.count());
  const T *pg = gamma.data<T>(), *pb = beta.data<T>();
  T* py = y.data<T>();
  const bool stream = l.streamed(sizeof(T));
  parallel_for(0, l.C, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t c = lo; c < hi; ++c) {
      const T* xc = px + l.at(0, c);
      const int64_t stride = l.C * l.inner;  // from one row of the channel to the next
      double s = 0.0, unused = 0.0;
      channel_sums<T, false>(
          l, [&](int64_t n, int64_t i, T& u, T&) { u = xc[n * stride + i]; }, s, unused);
      const double mu = s / m;
      // The variance around the mean in a second pass (from L2), not E[x^2] - E[x]^2, which
      // cancels. The deviations are taken from the mean rounded to T.
      const T mu_t = static_cast<T>(mu);
      double ss = 0.0, dev = 0.0;
      channel_sums<T>(
          l,
          [&](int64_t n, int64_t i, T& u, T& v) {
            const T d = xc[n * stride + i] - mu_t;
            u = d * d;
            v = d;
          },
          ss, dev);
      // The sum of the deviations corrects for mu_t's rounding: sum (x - mu)^2 =
      // sum (x - mu_t)^2 - (sum (x - mu_t))^2 / m.
      const double var = std::max(0.0, (ss - dev * dev / m) / m);
      pm[c] = static_cast<T>(mu);
      ps[c] = static_cast<T>(1.0 / std::sqrt(var + eps));
      if (rm) rm[c] = static_cast<T>((1.0 - momentum) * rm[c] + momentum * mu);
      if (rv) rv[c] = static_cast<T>((1.0 - momentum) * rv[c] + momentum * var * m / (m - 1.0));
      // Normalized while the channel (N x inner values: 256 KiB at 64 x 32 x 32) is still in
      // this core's L2, instead of in a third pass over the whole tensor.
      normalize_channel(px, pg, pb, pm, ps, py, l, relu, rows, c, stream);
    }
    if (stream) store_fence();
  });
}

template <class T>
void forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                  const Tensor& running_mean, const Tensor& running_var, double eps, Tensor& y,
                  Tensor& mean, Tensor& invstd, bool relu, const BnAdd& add) {
  const Layout l(x);
  T *pm = mean.data<T>(), *ps = invstd.data<T>();
  for (int64_t c = 0; c < l.C; ++c) {
    pm[c] = running_mean.data<T>()[c];
    ps[c] = static_cast<T>(1.0 / std::sqrt(static_cast<double>(running_var.data<T>()[c]) + eps));
  }
  normalize(x.data<T>(), gamma.data<T>(), beta.data<T>(), pm, ps, y.data<T>(), l, relu,
            AddRows<T>(add));
}

// The input gradient of one row, dx = k (d - mean_dy - (x - mu) coef) with d the masked dy,
// spelled as k fma(-(x - mu), coef, d - mean_dy) so that the plain loop and the streamed one
// below round alike (no contraction left to the compiler).
template <class T>
struct InputGrad {
  T k, mean_dy, mu, coef;
  T operator()(T d, T x) const { return k * std::fma(-(x - mu), coef, d - mean_dy); }
};

// One row of dx written with streaming stores (InputGrad's operations, the ReLU's mask
// recomputed as the plain loop does); false where it does not apply, nothing written then.
template <class T, bool Relu>
bool input_grad_row_streamed(const T* x, const T* dy, T* out, int64_t inner, const Affine<T>& f,
                             const InputGrad<T>& ig) {
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float>) {
    if (inner % 16 != 0 || (reinterpret_cast<uintptr_t>(out) & 63) != 0) return false;
    const __m512 a = _mm512_set1_ps(f.a), b = _mm512_set1_ps(f.b), zero = _mm512_setzero_ps();
    const __m512 k = _mm512_set1_ps(ig.k), mean_dy = _mm512_set1_ps(ig.mean_dy),
                 mu = _mm512_set1_ps(ig.mu), coef = _mm512_set1_ps(ig.coef);
    for (int64_t i = 0; i < inner; i += 16) {
      const __m512 xv = _mm512_loadu_ps(x + i);
      __m512 d = _mm512_loadu_ps(dy + i);
      if constexpr (Relu)  // dy where fma(x, a, b) > 0, else 0
        d = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(_mm512_fmadd_ps(xv, a, b), zero, _CMP_GT_OQ), d);
      const __m512 t = _mm512_fnmadd_ps(_mm512_sub_ps(xv, mu), coef, _mm512_sub_ps(d, mean_dy));
      _mm512_stream_ps(out + i, _mm512_mul_ps(k, t));
    }
    return true;
  }
#endif
  (void)x, (void)dy, (void)out, (void)inner, (void)f, (void)ig;
  return false;
}

// With a fused ReLU (Relu = true), dy counts only where the output was positive, which is
// recomputed from x (Affine: the forward's operations) rather than read.
template <class T, bool Relu>
void backward(const Tensor& dy, const Tensor& x, const Tensor& gamma, const Tensor* beta,
              const Tensor& mean, const Tensor& invstd, bool training, Tensor* dx, Tensor* dgamma,
              Tensor* dbeta) {
  const Layout l(x);
  const T *px = x.data<T>(), *pdy = dy.data<T>(), *pg = gamma.data<T>();
  const T* pb = Relu ? beta->data<T>() : nullptr;
  const T *pm = mean.data<T>(), *ps = invstd.data<T>();
  T* pdx = dx ? dx->data<T>() : nullptr;
  const double m = static_cast<double>(l.count());
  const bool stream = pdx && l.streamed(sizeof(T));
  parallel_for(0, l.C, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t c = lo; c < hi; ++c) {
      const T mu = pm[c], is = ps[c];
      const Affine<T> f(pg, Relu ? pb : pg, pm, ps, c);  // (f unused without the ReLU)
      const T *xc = px + l.at(0, c), *gc = pdy + l.at(0, c);
      const int64_t stride = l.C * l.inner;
      double sum_dy = 0.0, sum_dy_xc = 0.0;  // sum of dy, and of dy (x - mean)
      channel_sums<T>(
          l,
          [&](int64_t n, int64_t i, T& u, T& v) {
            const T x = xc[n * stride + i], dyv = gc[n * stride + i];
            // A select, not a branch (random signs would mispredict half the time); a select,
            // not a mask multiply, so that a NaN or infinite dy where the ReLU was off gives 0,
            // as relu_backward and the CUDA kernels do.
            const T g = Relu && !(f(x) > T(0)) ? T(0) : dyv;
            u = g;
            v = g * (x - mu);
          },
          sum_dy, sum_dy_xc);
      const double sum_dy_xhat = sum_dy_xc * is;
      if (dgamma) dgamma->data<T>()[c] = static_cast<T>(sum_dy_xhat);
      if (dbeta) dbeta->data<T>()[c] = static_cast<T>(sum_dy);
      if (!pdx) continue;
      // Training: the batch statistics depend on x too, which adds the two mean terms:
      // dx = k (dy - mean(dy) - xhat mean(dy xhat)), k = gamma invstd.
      const InputGrad<T> ig{static_cast<T>(pg[c] * is), static_cast<T>(training ? sum_dy / m : 0.0),
                            mu, static_cast<T>(training ? sum_dy_xhat / m * is : 0.0)};
      for (int64_t n = 0; n < l.N; ++n) {
        const T* xr = px + l.at(n, c);
        const T* gr = pdy + l.at(n, c);
        T* out = pdx + l.at(n, c);
        if (stream && input_grad_row_streamed<T, Relu>(xr, gr, out, l.inner, f, ig)) continue;
#pragma omp simd
        for (int64_t i = 0; i < l.inner; ++i) {
          const T g = Relu && !(f(xr[i]) > T(0)) ? T(0) : gr[i];
          out[i] = ig(g, xr[i]);
        }
      }
    }
    if (stream) store_fence();
  });
}

}  // namespace

void CpuBackend::batch_norm_forward_train(const Tensor& x, const Tensor& gamma,
                                          const Tensor& beta, Tensor& y, Tensor& mean,
                                          Tensor& invstd, Tensor* running_mean,
                                          Tensor* running_var, double momentum, double eps) {
  dispatch_float(x, "batch_norm", [&](auto tag) {
    forward_train<decltype(tag)>(x, gamma, beta, y, mean, invstd, running_mean, running_var,
                                 momentum, eps, false, BnAdd{});
  });
}

void CpuBackend::batch_norm_relu_forward_train(const Tensor& x, const Tensor& gamma,
                                               const Tensor& beta, Tensor& y, Tensor& mean,
                                               Tensor& invstd, Tensor* running_mean,
                                               Tensor* running_var, double momentum, double eps,
                                               const BnAdd& add) {
  dispatch_float(x, "batch_norm_relu", [&](auto tag) {
    forward_train<decltype(tag)>(x, gamma, beta, y, mean, invstd, running_mean, running_var,
                                 momentum, eps, true, add);
  });
}

void CpuBackend::batch_norm_forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                         const Tensor& running_mean, const Tensor& running_var,
                                         double eps, Tensor& y, Tensor& mean, Tensor& invstd) {
  dispatch_float(x, "batch_norm", [&](auto tag) {
    forward_eval<decltype(tag)>(x, gamma, beta, running_mean, running_var, eps, y, mean, invstd,
                                false, BnAdd{});
  });
}

void CpuBackend::batch_norm_relu_forward_eval(const Tensor& x, const Tensor& gamma,
                                              const Tensor& beta, const Tensor& running_mean,
                                              const Tensor& running_var, double eps, Tensor& y,
                                              Tensor& mean, Tensor& invstd, const BnAdd& add) {
  dispatch_float(x, "batch_norm_relu", [&](auto tag) {
    forward_eval<decltype(tag)>(x, gamma, beta, running_mean, running_var, eps, y, mean, invstd,
                                true, add);
  });
}

void CpuBackend::batch_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma,
                                     const Tensor& mean, const Tensor& invstd, bool training,
                                     Tensor* dx, Tensor* dgamma, Tensor* dbeta) {
  dispatch_float(x, "batch_norm_backward", [&](auto tag) {
    backward<decltype(tag), false>(dy, x, gamma, nullptr, mean, invstd, training, dx, dgamma,
                                   dbeta);
  });
}

void CpuBackend::batch_norm_relu_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma,
                                          const Tensor& beta, const Tensor& mean,
                                          const Tensor& invstd, bool training, Tensor* dx,
                                          Tensor* dgamma, Tensor* dbeta) {
  dispatch_float(x, "batch_norm_relu_backward", [&](auto tag) {
    backward<decltype(tag), true>(dy, x, gamma, &beta, mean, invstd, training, dx, dgamma, dbeta);
  });
}

}  // namespace sire::cpu
