// Element-wise and per-channel kernels: add, axpy, scale, relu, dropout, channel copies, bias,
// per-channel sums, and the fused SGD step. Each computes what its CPU twin
// (kernels/cpu/elementwise.cpp) computes, in the same float operations.
#include "kernels/common/philox.h"
#include "kernels/cuda/channel_parts.cuh"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/launch.cuh"

namespace sire::cuda {
namespace {

__global__ void add_kernel(const float* a, const float* b, float* y, int64_t n) {
  SIRE_GRID_LOOP(i, n) y[i] = a[i] + b[i];
}

__global__ void axpy_kernel(float alpha, const float* x, float* y, int64_t n) {
  SIRE_GRID_LOOP(i, n) y[i] += alpha * x[i];
}

__global__ void scale_kernel(const float* x, float alpha, float* y, int64_t n) {
  SIRE_GRID_LOOP(i, n) y[i] = alpha * x[i];
}

__global__ void relu_kernel(const float* x, float* y, int64_t n) {
  SIRE_GRID_LOOP(i, n) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

__global__ void relu_backward_kernel(const float* y, const float* dy, float* dx, int64_t n) {
  SIRE_GRID_LOOP(i, n) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

// One thread per group of four elements: they share one Philox evaluation (element i uses word
// i % 4 of counter i / 4, as philox_uniform does), so the mask is the CPU's, bit for bit.
__global__ void dropout_kernel(const float* in, float* out, int64_t n, float keep_threshold,
                               float scale, uint64_t seed, uint64_t stream) {
  SIRE_GRID_LOOP(group, (n + 3) / 4) {
    const Philox4 r = philox4x32(seed, static_cast<uint64_t>(group), stream);
    for (int j = 0; j < 4; ++j) {
      const int64_t i = group * 4 + j;
      if (i >= n) break;
      const bool keep = uniform_from_bits(r.v[j]) >= keep_threshold;
      out[i] = keep ? in[i] * scale : 0.0f;
    }
  }
}

// y[n][c][i] += bias[c] for y of [N, C, inner] (a transposed convolution's bias), V floats at a
// time (channel_parts.cuh).
template <int V>
__global__ void bias_add_kernel(float* y, const float* bias, int C, int inner, int64_t total) {
  for_groups<V>(total, C, inner, [&](int64_t g, int c) {
    Floats<V> v;
    v.load(y, g);
    for (int k = 0; k < V; ++k) v.v[k] += bias[c];
    v.store(y, g);
  });
}

// out[c] = sum over samples and positions of x[n][c][...] (a convolution's bias gradient), in
// double: each block sums one part of one channel (grid (parts, C), as batch norm's statistics),
// then one thread per channel adds the parts in order. No atomics: the same bits every run.
__global__ void channel_sum_partial_kernel(const float* x, ChannelLayout l, double* partial) {
  const int c = blockIdx.y, part = blockIdx.x;
  double s = 0.0;
  for_part(l, c, part, [&](int64_t at) { s += x[at]; });
  s = block_sum(s);
  if (threadIdx.x == 0) partial[c * l.parts + part] = s;
}

__global__ void channel_sum_finish_kernel(const double* partial, ChannelLayout l, float* out) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= l.C) return;
  double s = 0.0;
  for (int p = 0; p < l.parts; ++p) s += partial[c * l.parts + p];
  out[c] = static_cast<float>(s);
}

// PyTorch's SGD rule, as CpuBackend::sgd_update: d = g + wd p; buf = first ? d : m buf + damp d;
// d = nesterov ? d + m buf : buf; p -= lr d.
__global__ void sgd_kernel(float* p, const float* g, float* buf, int64_t n, float lr, float wd,
                           float mom, float damp, bool first, bool nesterov) {
  SIRE_GRID_LOOP(i, n) {
    float d = g[i] + wd * p[i];
    if (buf) {
      const float b = first ? d : mom * buf[i] + damp * d;
      buf[i] = b;
      d = nesterov ? d + mom * b : b;
    }
    p[i] -= lr * d;
  }
}

}  // namespace

void CudaBackend::add(const Tensor& a, const Tensor& b, Tensor& y) {
  require_f32("add", a, b, y);
  const int64_t n = a.numel();
  if (n == 0) return;
  SIRE_LAUNCH(add_kernel, grid_for(n), kBlock, a.data<float>(), b.data<float>(), y.data<float>(),
              n);
}

void CudaBackend::axpy(double alpha, const Tensor& x, Tensor& y) {
  require_f32("axpy", x, y);
  const int64_t n = x.numel();
  if (n == 0) return;
  SIRE_LAUNCH(axpy_kernel, grid_for(n), kBlock, static_cast<float>(alpha), x.data<float>(),
              y.data<float>(), n);
}

void CudaBackend::scale(const Tensor& x, double alpha, Tensor& y) {
  require_f32("scale", x, y);
  const int64_t n = x.numel();
  if (n == 0) return;
  SIRE_LAUNCH(scale_kernel, grid_for(n), kBlock, x.data<float>(), static_cast<float>(alpha),
              y.data<float>(), n);
}

void CudaBackend::relu_forward(const Tensor& x, Tensor& y) {
  require_f32("relu", x);
  const int64_t n = x.numel();
  if (n == 0) return;
  SIRE_LAUNCH(relu_kernel, grid_for(n), kBlock, x.data<float>(), y.data<float>(), n);
}

void CudaBackend::relu_backward(const Tensor& y, const Tensor& dy, Tensor& dx) {
  require_f32("relu_backward", y, dy, dx);
  const int64_t n = y.numel();
  if (n == 0) return;
  SIRE_LAUNCH(relu_backward_kernel, grid_for(n), kBlock, y.data<float>(), dy.data<float>(),
              dx.data<float>(), n);
}

namespace {
void dropout_apply(const char* op, const Tensor& in, Tensor& out, double p, uint64_t seed,
                   uint64_t stream) {
  require_f32(op, in, out);
  const int64_t n = in.numel();
  if (n == 0) return;
  const float scale = p < 1.0 ? static_cast<float>(1.0 / (1.0 - p)) : 0.0f;
  SIRE_LAUNCH(dropout_kernel, grid_for((n + 3) / 4), kBlock, in.data<float>(), out.data<float>(), n,
              static_cast<float>(p), scale, seed, stream);
}
}  // namespace

void CudaBackend::dropout_forward(const Tensor& x, Tensor& y, double p, uint64_t seed,
                                  uint64_t stream) {
  dropout_apply("dropout", x, y, p, seed, stream);
}

void CudaBackend::dropout_backward(const Tensor& dy, Tensor& dx, double p, uint64_t seed,
                                   uint64_t stream) {
  dropout_apply("dropout_backward", dy, dx, p, seed, stream);
}

// A strided copy of N rows of count * inner elements: one 2-D memcpy, no kernel.
void CudaBackend::channel_copy(const Tensor& src, int64_t src_c0, Tensor& dst, int64_t dst_c0,
                               int64_t count) {
  SIRE_CHECK(src.dtype() == dst.dtype() && src.ndim() >= 2 && dst.ndim() >= 2,
             "channel_copy: ", src.describe(), " -> ", dst.describe());
  const int64_t N = src.size(0);
  if (N == 0 || count == 0) return;
  const int64_t inner = src.numel() / (N * src.size(1));
  const size_t es = dtype_size(src.dtype());
  const size_t width = static_cast<size_t>(count * inner) * es;
  if (width == 0) return;
  SIRE_CUDA_CHECK(cudaMemcpy2DAsync(
      static_cast<char*>(dst.raw_data()) + static_cast<size_t>(dst_c0 * inner) * es,
      static_cast<size_t>(dst.size(1) * inner) * es,
      static_cast<const char*>(src.raw_data()) + static_cast<size_t>(src_c0 * inner) * es,
      static_cast<size_t>(src.size(1) * inner) * es, width, static_cast<size_t>(N),
      cudaMemcpyDeviceToDevice, 0));
}

void CudaBackend::bias_add(Tensor& y, const Tensor& bias) {
  require_f32("bias_add", y, bias);
  if (y.numel() == 0) return;
  const ChannelLayout l = layout_of("bias_add", y);
  launch_elementwise(bias_add_kernel<4>, bias_add_kernel<1>, l, y.numel(),
                     vectorizable(l.inner, {&y}), y.data<float>(), bias.data<float>());
}

void CudaBackend::channel_sum(const Tensor& x, Tensor& out) {
  require_f32("channel_sum", x, out);
  const ChannelLayout l = layout_of("channel_sum", x);
  if (l.C == 0) return;
  if (l.count() == 0) {  // no values: zero sums
    fill(out, 0.0);
    return;
  }
  Tensor partial = scratch(int64_t{l.C} * l.parts, DType::F64);
  auto* pp = static_cast<double*>(partial.raw_data());
  SIRE_LAUNCH(channel_sum_partial_kernel, dim3(l.parts, l.C), kBlock, x.data<float>(), l, pp);
  SIRE_LAUNCH(channel_sum_finish_kernel, (l.C + kBlock - 1) / kBlock, kBlock, pp, l,
              out.data<float>());
}

void CudaBackend::sgd_update(Tensor& param, const Tensor& grad, Tensor* momentum_buffer,
                             const SgdStep& st) {
  require_f32("sgd_update", param, grad);
  if (momentum_buffer) require_f32("sgd_update", *momentum_buffer);
  const int64_t n = param.numel();
  if (n == 0) return;
  SIRE_LAUNCH(sgd_kernel, grid_for(n), kBlock, param.data<float>(), grad.data<float>(),
              momentum_buffer ? momentum_buffer->data<float>() : nullptr, n,
              static_cast<float>(st.lr), static_cast<float>(st.weight_decay),
              static_cast<float>(st.momentum), static_cast<float>(1.0 - st.dampening), st.first,
              st.nesterov);
}

}  // namespace sire::cuda
