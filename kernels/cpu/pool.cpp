// Max pooling, nearest upsampling and adaptive average pooling on the CPU: one (n, c) plane per
// task, so every output element is written by one thread.
#include <algorithm>
#include <cmath>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/parallel.h"

namespace sire::cpu {
namespace {

// Runs f(plane) for each of the N*C planes, in parallel.
template <class F>
void each_plane(int64_t planes, int64_t plane_elems, const F& f) {
  const int64_t grain = std::max<int64_t>(1, 4096 / std::max<int64_t>(plane_elems, 1));
  parallel_for(0, planes, grain, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) f(i);
  });
}

}  // namespace

void CpuBackend::max_pool2d_forward(const Tensor& x, Tensor& y, Tensor& indices,
                                    const PoolGeom& g) {
  dispatch_float(x, "max_pool2d", [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    int32_t* pi = indices.data<int32_t>();
    each_plane(g.N * g.C, g.H * g.W, [&](int64_t plane) {
      const T* in = px + plane * g.H * g.W;
      T* out = py + plane * g.P * g.Q;
      int32_t* idx = pi + plane * g.P * g.Q;
      for (int64_t p = 0; p < g.P; ++p) {
        int64_t h0, h1;
        pool_window(p, g.kh, g.sh, g.ph, g.H, &h0, &h1);
        for (int64_t q = 0; q < g.Q; ++q) {
          int64_t w0, w1;
          pool_window(q, g.kw, g.sw, g.pw, g.W, &w0, &w1);
          // First maximum wins; a NaN wins over any number (it propagates, as in PyTorch).
          int64_t best = h0 * g.W + w0;
          T m = in[best];
          for (int64_t h = h0; h < h1; ++h)
            for (int64_t w = w0; w < w1; ++w) {
              const T v = in[h * g.W + w];
              if (v > m || (std::isnan(v) && !std::isnan(m))) {
                m = v;
                best = h * g.W + w;
              }
            }
          out[p * g.Q + q] = m;
          idx[p * g.Q + q] = static_cast<int32_t>(best);
        }
      }
    });
  });
}

void CpuBackend::max_pool2d_backward(const Tensor& dy, const Tensor& indices, Tensor& dx,
                                     const PoolGeom& g) {
  dispatch_float(dy, "max_pool2d_backward", [&](auto tag) {
    using T = decltype(tag);
    const T* pdy = dy.data<T>();
    const int32_t* pi = indices.data<int32_t>();
    T* pdx = dx.data<T>();
    each_plane(g.N * g.C, g.H * g.W, [&](int64_t plane) {
      T* out = pdx + plane * g.H * g.W;
      std::fill(out, out + g.H * g.W, T(0));
      const T* grad = pdy + plane * g.P * g.Q;
      const int32_t* idx = pi + plane * g.P * g.Q;
      for (int64_t i = 0; i < g.P * g.Q; ++i) out[idx[i]] += grad[i];
    });
  });
}

void CpuBackend::upsample_nearest2d_forward(const Tensor& x, Tensor& y) {
  dispatch_float(x, "upsample_nearest2d", [&](auto tag) {
    using T = decltype(tag);
    const int64_t H = x.size(2), W = x.size(3), OH = y.size(2), OW = y.size(3);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    each_plane(x.size(0) * x.size(1), OH * OW, [&](int64_t plane) {
      const T* in = px + plane * H * W;
      T* out = py + plane * OH * OW;
      for (int64_t i = 0; i < OH; ++i) {
        const T* row = in + nearest_source(i, H, OH) * W;
        for (int64_t j = 0; j < OW; ++j) out[i * OW + j] = row[nearest_source(j, W, OW)];
      }
    });
  });
}

void CpuBackend::upsample_nearest2d_backward(const Tensor& dy, Tensor& dx) {
  dispatch_float(dy, "upsample_nearest2d_backward", [&](auto tag) {
    using T = decltype(tag);
    const int64_t H = dx.size(2), W = dx.size(3), OH = dy.size(2), OW = dy.size(3);
    const T* pdy = dy.data<T>();
    T* pdx = dx.data<T>();
    each_plane(dx.size(0) * dx.size(1), OH * OW, [&](int64_t plane) {
      T* out = pdx + plane * H * W;
      const T* in = pdy + plane * OH * OW;
      std::fill(out, out + H * W, T(0));
      for (int64_t i = 0; i < OH; ++i) {
        T* row = out + nearest_source(i, H, OH) * W;
        for (int64_t j = 0; j < OW; ++j) row[nearest_source(j, W, OW)] += in[i * OW + j];
      }
    });
  });
}

void CpuBackend::adaptive_avg_pool2d_forward(const Tensor& x, Tensor& y) {
  dispatch_float(x, "adaptive_avg_pool2d", [&](auto tag) {
    using T = decltype(tag);
    const int64_t H = x.size(2), W = x.size(3), OH = y.size(2), OW = y.size(3);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    each_plane(x.size(0) * x.size(1), H * W, [&](int64_t plane) {
      const T* in = px + plane * H * W;
      T* out = py + plane * OH * OW;
      for (int64_t i = 0; i < OH; ++i) {
        const int64_t h0 = adaptive_start(i, H, OH), h1 = adaptive_end(i, H, OH);
        for (int64_t j = 0; j < OW; ++j) {
          const int64_t w0 = adaptive_start(j, W, OW), w1 = adaptive_end(j, W, OW);
          T s = 0;
          for (int64_t h = h0; h < h1; ++h)
            for (int64_t w = w0; w < w1; ++w) s += in[h * W + w];
          out[i * OW + j] = s / static_cast<T>((h1 - h0) * (w1 - w0));
        }
      }
    });
  });
}

void CpuBackend::adaptive_avg_pool2d_backward(const Tensor& dy, Tensor& dx) {
  dispatch_float(dy, "adaptive_avg_pool2d_backward", [&](auto tag) {
    using T = decltype(tag);
    const int64_t H = dx.size(2), W = dx.size(3), OH = dy.size(2), OW = dy.size(3);
    const T* pdy = dy.data<T>();
    T* pdx = dx.data<T>();
    each_plane(dx.size(0) * dx.size(1), H * W, [&](int64_t plane) {
      T* out = pdx + plane * H * W;
      const T* in = pdy + plane * OH * OW;
      std::fill(out, out + H * W, T(0));
      for (int64_t i = 0; i < OH; ++i) {
        const int64_t h0 = adaptive_start(i, H, OH), h1 = adaptive_end(i, H, OH);
        for (int64_t j = 0; j < OW; ++j) {
          const int64_t w0 = adaptive_start(j, W, OW), w1 = adaptive_end(j, W, OW);
          const T g = in[i * OW + j] / static_cast<T>((h1 - h0) * (w1 - w0));
          for (int64_t h = h0; h < h1; ++h)
            for (int64_t w = w0; w < w1; ++w) out[h * W + w] += g;
        }
      }
    });
  });
}

}  // namespace sire::cpu
