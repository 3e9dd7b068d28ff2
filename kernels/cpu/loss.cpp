// Losses and reductions on the CPU. Sums go through deterministic_sum: the same bits on any
// number of threads.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/parallel.h"

namespace sire::cpu {
namespace {

void check_labels(const Tensor& labels, int64_t classes) {
  const int32_t* pl = labels.data<int32_t>();
  for (int64_t n = 0; n < labels.numel(); ++n)
    SIRE_CHECK(pl[n] >= 0 && pl[n] < classes, "cross_entropy: label ", pl[n], " of sample ", n,
               " is outside [0, ", classes, ")");
}

// log(sum(exp(row))) computed around the row's maximum, so that no exp overflows.
template <class T>
double log_sum_exp(const T* row, int64_t m) {
  const double mx = *std::max_element(row, row + m);
  double s = 0.0;
  for (int64_t j = 0; j < m; ++j) s += std::exp(row[j] - mx);
  return mx + std::log(s);
}

}  // namespace

void CpuBackend::softmax_cross_entropy_forward(const Tensor& logits, const Tensor& labels,
                                               Tensor& loss) {
  const int64_t N = logits.size(0), M = logits.size(1);
  check_labels(labels, M);
  dispatch_float(logits, "cross_entropy", [&](auto tag) {
    using T = decltype(tag);
    const T* pz = logits.data<T>();
    const int32_t* pl = labels.data<int32_t>();
    std::vector<double> per_sample(static_cast<size_t>(N));
    parallel_for(0, N, 8, [&](int64_t lo, int64_t hi) {
      for (int64_t n = lo; n < hi; ++n)
        per_sample[n] = log_sum_exp(pz + n * M, M) - pz[n * M + pl[n]];
    });
    double s = 0.0;
    for (double v : per_sample) s += v;
    loss.data<T>()[0] = static_cast<T>(s / static_cast<double>(N));
  });
}

void CpuBackend::softmax_cross_entropy_backward(const Tensor& logits, const Tensor& labels,
                                                const Tensor& g, Tensor& dlogits) {
  const int64_t N = logits.size(0), M = logits.size(1);
  check_labels(labels, M);
  dispatch_float(logits, "cross_entropy_backward", [&](auto tag) {
    using T = decltype(tag);
    const T* pz = logits.data<T>();
    const int32_t* pl = labels.data<int32_t>();
    T* pd = dlogits.data<T>();
    const double scale = static_cast<double>(g.data<T>()[0]) / static_cast<double>(N);
    parallel_for(0, N, 8, [&](int64_t lo, int64_t hi) {
      for (int64_t n = lo; n < hi; ++n) {
        const T* row = pz + n * M;
        const double lse = log_sum_exp(row, M);
        for (int64_t j = 0; j < M; ++j)
          pd[n * M + j] = static_cast<T>(scale * (std::exp(row[j] - lse) - (j == pl[n] ? 1 : 0)));
      }
    });
  });
}

void CpuBackend::mse_forward(const Tensor& a, const Tensor& b, Tensor& loss) {
  dispatch_float(a, "mse_loss", [&](auto tag) {
    using T = decltype(tag);
    const T *pa = a.data<T>(), *pb = b.data<T>();
    const double s = deterministic_sum(a.numel(), [pa, pb](int64_t i) noexcept {
      const T d = pa[i] - pb[i];
      return d * d;
    });
    loss.data<T>()[0] = static_cast<T>(s / static_cast<double>(a.numel()));
  });
}

void CpuBackend::mse_backward(const Tensor& a, const Tensor& b, const Tensor& g, Tensor* da,
                              Tensor* db) {
  dispatch_float(a, "mse_loss_backward", [&](auto tag) {
    using T = decltype(tag);
    const T *pa = a.data<T>(), *pb = b.data<T>();
    T* pda = da ? da->data<T>() : nullptr;
    T* pdb = db ? db->data<T>() : nullptr;
    const T k = static_cast<T>(2.0 * g.data<T>()[0] / static_cast<double>(a.numel()));
    parallel_for(0, a.numel(), 1 << 15, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        const T d = k * (pa[i] - pb[i]);
        if (pda) pda[i] = d;
        if (pdb) pdb[i] = -d;
      }
    });
  });
}

void CpuBackend::sum(const Tensor& x, Tensor& out) {
  dispatch_float(x, "sum", [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    out.data<T>()[0] = static_cast<T>(deterministic_sum(x.numel(), [px](int64_t i) noexcept { return px[i]; }));
  });
}

void CpuBackend::sum_abs(const Tensor& x, Tensor& out) {
  dispatch_float(x, "sum_abs", [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    out.data<T>()[0] =
        static_cast<T>(deterministic_sum(x.numel(), [px](int64_t i) noexcept { return std::fabs(px[i]); }));
  });
}

void CpuBackend::sum_squares(const Tensor& x, Tensor& out) {
  dispatch_float(x, "sum_squares", [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    out.data<T>()[0] = static_cast<T>(deterministic_sum(x.numel(), [px](int64_t i) noexcept {
      const T v = px[i];
      return v * v;
    }));
  });
}

void CpuBackend::broadcast_scalar(const Tensor& g, double alpha, Tensor& y) {
  dispatch_float(y, "broadcast_scalar", [&](auto tag) {
    using T = decltype(tag);
    const T v = static_cast<T>(alpha * g.data<T>()[0]);
    T* py = y.data<T>();
    parallel_for(0, y.numel(), 1 << 15,
                 [&](int64_t lo, int64_t hi) { std::fill(py + lo, py + hi, v); });
  });
}

}  // namespace sire::cpu
