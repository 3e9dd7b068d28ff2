// Max pooling, nearest upsampling and adaptive average pooling. 2x2 max pooling at stride 2 over
// even planes (SIRe's and VGG's) and upsampling to exactly twice an even width (every SIRe
// decoder level) have their own kernels (pool2x2.h, upsample2x.h). Otherwise forward passes run
// one thread per output element; backward passes gather, one thread per input element, over the
// outputs that read it (the inverse maps of kernels/common/pool_geometry.h), adding in the order
// the CPU's scatter adds: every gradient is written once, with no atomics, and equals the CPU's.
#include "kernels/common/pool_geometry.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/pool2x2.h"
#include "kernels/cuda/upsample2x.h"

namespace sire::cuda {
namespace {

// The pooling geometry in 32-bit integers: tensors hold fewer than 2^31 elements (require_f32),
// and 64-bit division costs several times more on the GPU.
struct Pool32 {
  int H, W, kh, kw, sh, sw, ph, pw, P, Q;
};

// One (sample, channel) plane is H x W in, P x Q out.
__global__ void max_pool_forward_kernel(const float* x, float* y, int32_t* idx, Pool32 g,
                                        int64_t total) {
  SIRE_GRID_LOOP(o64, total) {
    const int o = static_cast<int>(o64);
    const int plane = o / (g.P * g.Q), pq = o - plane * g.P * g.Q;
    const int p = pq / g.Q, q = pq - p * g.Q;
    int h0, h1, w0, w1;
    pool_window(p, g.kh, g.sh, g.ph, g.H, &h0, &h1);
    pool_window(q, g.kw, g.sw, g.pw, g.W, &w0, &w1);
    const float* in = x + static_cast<int64_t>(plane) * g.H * g.W;
    // First maximum wins; a NaN wins over any number (it propagates), as on the CPU.
    int best = h0 * g.W + w0;
    float m = in[best];
    for (int h = h0; h < h1; ++h)
      for (int w = w0; w < w1; ++w) {
        const float v = in[h * g.W + w];
        if (v > m || (isnan(v) && !isnan(m))) {
          m = v;
          best = h * g.W + w;
        }
      }
    y[o] = m;
    idx[o] = best;
  }
}

__global__ void max_pool_backward_kernel(const float* dy, const int32_t* idx, float* dx, Pool32 g,
                                         int64_t total) {
  SIRE_GRID_LOOP(i64, total) {
    const int i = static_cast<int>(i64);
    const int plane = i / (g.H * g.W), hw = i - plane * g.H * g.W;
    const int h = hw / g.W, w = hw - h * g.W;
    int p0, p1, q0, q1;
    pool_out_range(h, g.kh, g.sh, g.ph, g.P, &p0, &p1);
    pool_out_range(w, g.kw, g.sw, g.pw, g.Q, &q0, &q1);
    const float* grad = dy + plane * g.P * g.Q;
    const int32_t* which = idx + plane * g.P * g.Q;
    float s = 0.0f;
    for (int p = p0; p < p1; ++p)
      for (int q = q0; q < q1; ++q)
        if (which[p * g.Q + q] == hw) s += grad[p * g.Q + q];
    dx[i] = s;
  }
}

// Whether the 2x2 kernels take pooling g between tensors at a and b: they read and write pairs.
bool pool2x2_fits(const PoolGeom& g, const float* a, const float* b) {
  return pool2x2_takes(g) && aligned_to(a, 8) && aligned_to(b, 8);
}

// Plane sizes of the resampling kernels: H x W in, OH x OW out.
struct Resample {
  int H, W, OH, OW;
};

// y = upsample(x), + add (a skip connection) when not null.
__global__ void upsample_forward_kernel(const float* x, const float* add, float* y, Resample r,
                                        int64_t total) {
  SIRE_GRID_LOOP(o64, total) {
    const int o = static_cast<int>(o64);
    const int plane = o / (r.OH * r.OW), ij = o - plane * r.OH * r.OW;
    const int i = ij / r.OW, j = ij - i * r.OW;
    const float v =
        x[plane * r.H * r.W + nearest_source(i, r.H, r.OH) * r.W + nearest_source(j, r.W, r.OW)];
    y[o] = add ? v + add[o] : v;
  }
}

__global__ void upsample_backward_kernel(const float* dy, float* dx, Resample r, int64_t total) {
  SIRE_GRID_LOOP(o64, total) {
    const int o = static_cast<int>(o64);
    const int plane = o / (r.H * r.W), hw = o - plane * r.H * r.W;
    const int h = hw / r.W, w = hw - h * r.W;
    int i0, i1, j0, j1;
    nearest_dest_range(h, r.H, r.OH, &i0, &i1);
    nearest_dest_range(w, r.W, r.OW, &j0, &j1);
    const float* grad = dy + plane * r.OH * r.OW;
    float s = 0.0f;
    for (int i = i0; i < i1; ++i) {
      if (r.OW == 2 * r.W) {  // the CPU's order at twice the width: each row's pair, then the sum
        s += grad[i * r.OW + j0] + grad[i * r.OW + j0 + 1];
        continue;
      }
      for (int j = j0; j < j1; ++j) s += grad[i * r.OW + j];
    }
    dx[o] = s;
  }
}

// Whether the 2x kernels by pairs (upsample2x.h) apply: twice the size, an even width, the small
// side 8-byte and the big side 16-byte aligned.
bool twice_by_pairs(const Resample& r, const float* small, const float* big) {
  return r.OH == 2 * r.H && r.OW == 2 * r.W && r.W % 2 == 0 && aligned_to(small, 8) &&
         aligned_to(big, 16);
}

__global__ void adaptive_forward_kernel(const float* x, float* y, Resample r, int64_t total) {
  SIRE_GRID_LOOP(o64, total) {
    const int o = static_cast<int>(o64);
    const int plane = o / (r.OH * r.OW), ij = o - plane * r.OH * r.OW;
    const int i = ij / r.OW, j = ij - i * r.OW;
    const int h0 = adaptive_start(i, r.H, r.OH), h1 = adaptive_end(i, r.H, r.OH);
    const int w0 = adaptive_start(j, r.W, r.OW), w1 = adaptive_end(j, r.W, r.OW);
    const float* in = x + plane * r.H * r.W;
    float s = 0.0f;
    for (int h = h0; h < h1; ++h)
      for (int w = w0; w < w1; ++w) s += in[h * r.W + w];
    y[o] = s / static_cast<float>((h1 - h0) * (w1 - w0));
  }
}

__global__ void adaptive_backward_kernel(const float* dy, float* dx, Resample r, int64_t total) {
  SIRE_GRID_LOOP(o64, total) {
    const int o = static_cast<int>(o64);
    const int plane = o / (r.H * r.W), hw = o - plane * r.H * r.W;
    const int h = hw / r.W, w = hw - h * r.W;
    int i0, i1, j0, j1;
    adaptive_out_range(h, r.H, r.OH, &i0, &i1);
    adaptive_out_range(w, r.W, r.OW, &j0, &j1);
    const float* grad = dy + plane * r.OH * r.OW;
    float s = 0.0f;
    for (int i = i0; i < i1; ++i) {
      const int area_h = adaptive_end(i, r.H, r.OH) - adaptive_start(i, r.H, r.OH);
      for (int j = j0; j < j1; ++j) {
        const int area = area_h * (adaptive_end(j, r.W, r.OW) - adaptive_start(j, r.W, r.OW));
        s += grad[i * r.OW + j] / static_cast<float>(area);
      }
    }
    dx[o] = s;
  }
}

Pool32 pool32(const PoolGeom& g) {
  auto i = [](int64_t v) { return static_cast<int>(v); };
  return Pool32{i(g.H),  i(g.W),  i(g.kh), i(g.kw), i(g.sh),
                i(g.sw), i(g.ph), i(g.pw), i(g.P),  i(g.Q)};
}

// The index products of nearest_source (dst * in) must fit 32 bits too.
Resample resample_of(const char* op, const Tensor& in, const Tensor& out) {
  const int64_t H = in.size(2), W = in.size(3), OH = out.size(2), OW = out.size(3);
  SIRE_CHECK(H * (OH + 1) < (int64_t{1} << 31) && W * (OW + 1) < (int64_t{1} << 31), op, ": ",
             in.describe(), " -> ", out.describe(), " is beyond 32-bit index arithmetic");
  return Resample{static_cast<int>(H), static_cast<int>(W), static_cast<int>(OH),
                  static_cast<int>(OW)};
}

}  // namespace

void CudaBackend::max_pool2d_forward(const Tensor& x, Tensor& y, Tensor& indices,
                                     const PoolGeom& g) {
  require_f32("max_pool2d", x, y);
  require_i32("max_pool2d", indices);
  const int64_t total = y.numel();
  if (total == 0) return;
  if (pool2x2_fits(g, x.data<float>(), y.data<float>())) {
    const MaxPool2x2Forward work{x.data<float>(), y.data<float>(), indices.data<int32_t>(),
                                 static_cast<int>(g.P), static_cast<int>(g.W)};
    launch_per_index(work, total);
    return;
  }
  SIRE_LAUNCH(max_pool_forward_kernel, grid_for(total), kBlock, x.data<float>(), y.data<float>(),
              indices.data<int32_t>(), pool32(g), total);
}

void CudaBackend::max_pool2d_backward(const Tensor& dy, const Tensor& indices, Tensor& dx,
                                      const PoolGeom& g) {
  require_f32("max_pool2d_backward", dy, dx);
  require_i32("max_pool2d_backward", indices);
  const int64_t total = dx.numel();
  if (total == 0) return;
  if (pool2x2_fits(g, dx.data<float>(), dy.data<float>())) {  // one thread per window
    const MaxPool2x2Backward work{dy.data<float>(), indices.data<int32_t>(), dx.data<float>(),
                                  static_cast<int>(g.P), static_cast<int>(g.W)};
    launch_per_index(work, dy.numel());
    return;
  }
  SIRE_LAUNCH(max_pool_backward_kernel, grid_for(total), kBlock, dy.data<float>(),
              indices.data<int32_t>(), dx.data<float>(), pool32(g), total);
}

void CudaBackend::upsample_nearest2d_forward(const Tensor& x, Tensor& y, const Tensor* add) {
  require_f32("upsample_nearest2d", x, y);
  if (add) require_f32("upsample_nearest2d", *add);
  const int64_t total = y.numel();
  if (total == 0) return;
  const Resample r = resample_of("upsample_nearest2d", x, y);
  const float* pa = add ? add->data<float>() : nullptr;
  if (twice_by_pairs(r, x.data<float>(), y.data<float>()) && (!pa || aligned_to(pa, 16))) {
    launch_per_index(Upsample2xForward{x.data<float>(), pa, y.data<float>(), r.W}, x.numel() / 2);
    return;
  }
  SIRE_LAUNCH(upsample_forward_kernel, grid_for(total), kBlock, x.data<float>(), pa,
              y.data<float>(), r, total);
}

void CudaBackend::upsample_nearest2d_backward(const Tensor& dy, Tensor& dx) {
  require_f32("upsample_nearest2d_backward", dy, dx);
  const int64_t total = dx.numel();
  if (total == 0) return;
  const Resample r = resample_of("upsample_nearest2d_backward", dx, dy);
  if (twice_by_pairs(r, dx.data<float>(), dy.data<float>())) {
    launch_per_index(Upsample2xBackward{dy.data<float>(), dx.data<float>(), r.W}, dx.numel() / 2);
    return;
  }
  SIRE_LAUNCH(upsample_backward_kernel, grid_for(total), kBlock, dy.data<float>(), dx.data<float>(),
              r, total);
}

void CudaBackend::adaptive_avg_pool2d_forward(const Tensor& x, Tensor& y) {
  require_f32("adaptive_avg_pool2d", x, y);
  const int64_t total = y.numel();
  if (total == 0) return;
  SIRE_LAUNCH(adaptive_forward_kernel, grid_for(total), kBlock, x.data<float>(), y.data<float>(),
              resample_of("adaptive_avg_pool2d", x, y), total);
}

void CudaBackend::adaptive_avg_pool2d_backward(const Tensor& dy, Tensor& dx) {
  require_f32("adaptive_avg_pool2d_backward", dy, dx);
  const int64_t total = dx.numel();
  if (total == 0) return;
  SIRE_LAUNCH(adaptive_backward_kernel, grid_for(total), kBlock, dy.data<float>(), dx.data<float>(),
              resample_of("adaptive_avg_pool2d_backward", dx, dy), total);
}

}  // namespace sire::cuda
