// Element-wise and per-channel kernels: add, axpy, scale, relu, dropout, channel copies, bias,
// per-channel sums, and the fused SGD step. Each computes what its CPU twin
// (kernels/cpu/elementwise.cpp) computes, in the same float operations.
#include <cstdint>
#include <initializer_list>

#include "kernels/common/philox.h"
#include "kernels/cuda/channel_parts.cuh"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/launch.cuh"

namespace sire::cuda {
namespace {

// The plain element-wise kernels: one Op (its pointers, and apply<V>(g) for the g-th group of V
// floats) run over [0, n) 4 floats at a time (16-byte accesses) when every pointer is 16-byte
// aligned, the last n % 4 one at a time; else one at a time throughout. The same float
// operations either way.
template <int V, class Op>
__global__ void map_kernel(Op op, int64_t n) {
  const int64_t groups = n / V;
  SIRE_GRID_LOOP(g, groups) op.template apply<V>(g);
  if (V > 1) {  // the tail, by the first threads of the grid
    const int64_t i = groups * V + blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (i < n) op.template apply<1>(i);
  }
}

template <class Op>
void map(const Op& op, int64_t n, std::initializer_list<const void*> ptrs) {
  if (aligned16(ptrs)) {
    auto elementwise_by4 = map_kernel<4, Op>;
    SIRE_LAUNCH(elementwise_by4, grid_for(n / 4 > 0 ? n / 4 : 1), kBlock, op, n);
  } else {
    auto elementwise_by1 = map_kernel<1, Op>;
    SIRE_LAUNCH(elementwise_by1, grid_for(n), kBlock, op, n);
  }
}

struct AddOp {  // y = a + b
  const float *a, *b;
  float* y;
  template <int V>
  __device__ void apply(int64_t g) const {
    Floats<V> va, vb;
    va.load(a, g);
    vb.load(b, g);
    for (int k = 0; k < V; ++k) va.v[k] += vb.v[k];
    va.store(y, g);
  }
};

// y = ((x[0] + x[1]) + x[2]) + ... over `count` (2 to kMaxAddN) inputs, in that order: the bits
// of pairwise adds. The pointers travel in the kernel's arguments.
constexpr int kMaxAddN = 8;
struct AddNOp {
  const float* x[kMaxAddN];
  int count;
  float* y;
  template <int V>
  __device__ void apply(int64_t g) const {
    Floats<V> s, v;
    s.load(x[0], g);
    for (int j = 1; j < count; ++j) {
      v.load(x[j], g);
      for (int k = 0; k < V; ++k) s.v[k] += v.v[k];
    }
    s.store(y, g);
  }
};

struct AxpyOp {  // y += alpha x
  float alpha;
  const float* x;
  float* y;
  template <int V>
  __device__ void apply(int64_t g) const {
    Floats<V> vx, vy;
    vx.load(x, g);
    vy.load(y, g);
    for (int k = 0; k < V; ++k) vy.v[k] += alpha * vx.v[k];
    vy.store(y, g);
  }
};

struct ScaleOp {  // y = alpha x
  const float* x;
  float alpha;
  float* y;
  template <int V>
  __device__ void apply(int64_t g) const {
    Floats<V> v;
    v.load(x, g);
    for (int k = 0; k < V; ++k) v.v[k] = alpha * v.v[k];
    v.store(y, g);
  }
};

struct ReluOp {  // y = x > 0 ? x : 0
  const float* x;
  float* y;
  template <int V>
  __device__ void apply(int64_t g) const {
    Floats<V> v;
    v.load(x, g);
    for (int k = 0; k < V; ++k) v.v[k] = v.v[k] > 0.0f ? v.v[k] : 0.0f;
    v.store(y, g);
  }
};

struct ReluBackwardOp {  // dx = y > 0 ? dy : 0
  const float *y, *dy;
  float* dx;
  template <int V>
  __device__ void apply(int64_t g) const {
    Floats<V> vy, vd;
    vy.load(y, g);
    vd.load(dy, g);
    for (int k = 0; k < V; ++k) vd.v[k] = vy.v[k] > 0.0f ? vd.v[k] : 0.0f;
    vd.store(dx, g);
  }
};

// One thread per group of four elements: they share one Philox evaluation (element i uses word
// i % 4 of counter i / 4, as philox_uniform does), so the mask is the CPU's, bit for bit.
__global__ void dropout_kernel(const float* in, float* out, int64_t n, float keep_threshold,
                               float scale, uint64_t seed, uint64_t stream, bool by4) {
  SIRE_GRID_LOOP(group, (n + 3) / 4) {
    const Philox4 r = philox4x32(seed, static_cast<uint64_t>(group), stream);
    if (by4 && group * 4 + 3 < n) {  // a whole group, 16-byte aligned: one load, one store
      Floats<4> v;
      v.load(in, group);
      for (int j = 0; j < 4; ++j)
        v.v[j] = uniform_from_bits(r.v[j]) >= keep_threshold ? v.v[j] * scale : 0.0f;
      v.store(out, group);
      continue;
    }
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
// double: each block sums one part of one channel (grid (C, parts), as batch norm's statistics),
// then one thread per channel adds the parts in order. No atomics: the same bits every run.
__global__ void channel_sum_partial_kernel(const float* x, ChannelLayout l, double* partial) {
  const int c = blockIdx.x, part = blockIdx.y;
  double s = 0.0;
  for_part(l, c, part, {x}, [&](int64_t, const auto& v) { s += v[0]; });
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
struct SgdOp {
  float* p;
  const float* grad;
  float* buf;  // null without momentum
  float lr, wd, mom, damp;
  bool first, nesterov;
  template <int V>
  __device__ void apply(int64_t g) const {
    Floats<V> vp, vg, vb;
    vp.load(p, g);
    vg.load(grad, g);
    if (buf && !first) vb.load(buf, g);
    // Each product and sum rounded on its own (__fmul_rn, __fadd_rn: never contracted into an
    // FMA, which nvcc did differently for V = 4 and V = 1, so that a parameter's bits depended on
    // its alignment), in the CPU twin's order.
    for (int k = 0; k < V; ++k) {
      float d = __fadd_rn(vg.v[k], __fmul_rn(wd, vp.v[k]));
      if (buf) {
        const float b = first ? d : __fadd_rn(__fmul_rn(mom, vb.v[k]), __fmul_rn(damp, d));
        vb.v[k] = b;
        d = nesterov ? __fadd_rn(d, __fmul_rn(mom, b)) : b;
      }
      vp.v[k] = __fsub_rn(vp.v[k], __fmul_rn(lr, d));
    }
    if (buf) vb.store(buf, g);
    vp.store(p, g);
  }
};

// Many parameters' SGD steps in one launch: up to kSgdList of them, their pointers passed by
// value (about 1 KiB of kernel parameters). Every block walks the list and takes its grid-stride
// share of each parameter, 4 floats at a time where that parameter's pointers are 16-byte
// aligned: the float operations of SgdOp, so the bits of one sgd_update per parameter.
constexpr int kSgdList = 32;
struct SgdList {
  float* p[kSgdList];
  const float* grad[kSgdList];
  float* buf[kSgdList];
  int64_t n[kSgdList];
  uint32_t first, by4;  // bit t: parameter t's first step; its pointers are 16-byte aligned
  int count;
  float lr, wd, mom, damp;
  bool nesterov;
};

__global__ void sgd_list_kernel(SgdList l) {
  const int64_t thread = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  for (int t = 0; t < l.count; ++t) {
    const SgdOp op{l.p[t],    l.grad[t], l.buf[t], l.lr,
                   l.wd,      l.mom,     l.damp,   ((l.first >> t) & 1u) != 0,
                   l.nesterov};
    const int64_t n = l.n[t];
    const int64_t groups = (l.by4 >> t) & 1u ? n / 4 : 0;  // the rest one float at a time
    SIRE_GRID_LOOP(g, groups) op.apply<4>(g);
    for (int64_t i = groups * 4 + thread; i < n; i += static_cast<int64_t>(gridDim.x) * blockDim.x)
      op.apply<1>(i);
  }
}

}  // namespace

void CudaBackend::add(const Tensor& a, const Tensor& b, Tensor& y) {
  require_f32("add", a, b, y);
  const int64_t n = a.numel();
  if (n == 0) return;
  const AddOp op{a.data<float>(), b.data<float>(), y.data<float>()};
  map(op, n, {op.a, op.b, op.y});
}

// Up to kMaxAddN inputs a launch; more in further launches, each starting from y.
void CudaBackend::add_n(const std::vector<const Tensor*>& xs, Tensor& y) {
  SIRE_CHECK(xs.size() >= 2, "add_n: ", xs.size(), " tensors to sum");
  for (const Tensor* x : xs) require_f32("add_n", *x, y);
  const int64_t n = y.numel();
  if (n == 0) return;
  AddNOp op{};
  op.y = y.data<float>();
  op.x[0] = xs[0]->data<float>();
  op.count = 1;
  bool aligned = aligned16({op.x[0], op.y});
  for (size_t next = 1; next < xs.size();) {
    while (op.count < kMaxAddN && next < xs.size()) {
      op.x[op.count] = xs[next++]->data<float>();
      aligned = aligned && aligned16({op.x[op.count]});
      ++op.count;
    }
    if (aligned) {
      auto add_n_by4 = map_kernel<4, AddNOp>;
      SIRE_LAUNCH(add_n_by4, grid_for(n / 4 > 0 ? n / 4 : 1), kBlock, op, n);
    } else {
      auto add_n_by1 = map_kernel<1, AddNOp>;
      SIRE_LAUNCH(add_n_by1, grid_for(n), kBlock, op, n);
    }
    op.x[0] = op.y;  // the partial sum is the next launch's first term
    op.count = 1;
  }
}

void CudaBackend::axpy(double alpha, const Tensor& x, Tensor& y) {
  require_f32("axpy", x, y);
  const int64_t n = x.numel();
  if (n == 0) return;
  const AxpyOp op{static_cast<float>(alpha), x.data<float>(), y.data<float>()};
  map(op, n, {op.x, op.y});
}

void CudaBackend::scale(const Tensor& x, double alpha, Tensor& y) {
  require_f32("scale", x, y);
  const int64_t n = x.numel();
  if (n == 0) return;
  const ScaleOp op{x.data<float>(), static_cast<float>(alpha), y.data<float>()};
  map(op, n, {op.x, op.y});
}

void CudaBackend::relu_forward(const Tensor& x, Tensor& y) {
  require_f32("relu", x);
  const int64_t n = x.numel();
  if (n == 0) return;
  const ReluOp op{x.data<float>(), y.data<float>()};
  map(op, n, {op.x, op.y});
}

void CudaBackend::relu_backward(const Tensor& y, const Tensor& dy, Tensor& dx) {
  require_f32("relu_backward", y, dy, dx);
  const int64_t n = y.numel();
  if (n == 0) return;
  const ReluBackwardOp op{y.data<float>(), dy.data<float>(), dx.data<float>()};
  map(op, n, {op.y, op.dy, op.dx});
}

namespace {
void dropout_apply(const char* op, const Tensor& in, Tensor& out, double p, uint64_t seed,
                   uint64_t stream) {
  require_f32(op, in, out);
  const int64_t n = in.numel();
  if (n == 0) return;
  const float scale = p < 1.0 ? static_cast<float>(1.0 / (1.0 - p)) : 0.0f;
  SIRE_LAUNCH(dropout_kernel, grid_for((n + 3) / 4), kBlock, in.data<float>(), out.data<float>(), n,
              static_cast<float>(p), scale, seed, stream,
              aligned16({in.raw_data(), out.raw_data()}));
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
  const ChannelLayout l = layout_of(y);
  launch_elementwise(bias_add_kernel<4>, bias_add_kernel<1>, l, y.numel(),
                     vectorizable(l.inner, {&y}), y.data<float>(), bias.data<float>());
}

void CudaBackend::channel_sum(const Tensor& x, Tensor& out) {
  require_f32("channel_sum", x, out);
  const ChannelLayout l = layout_of(x);
  if (l.C == 0) return;
  if (l.count() == 0) {  // no values: zero sums
    fill(out, 0.0);
    return;
  }
  Tensor partial = scratch(int64_t{l.C} * l.parts, DType::F64);
  auto* pp = static_cast<double*>(partial.raw_data());
  SIRE_LAUNCH(channel_sum_partial_kernel, dim3(l.C, l.parts), kBlock, x.data<float>(), l, pp);
  SIRE_LAUNCH(channel_sum_finish_kernel, (l.C + kBlock - 1) / kBlock, kBlock, pp, l,
              out.data<float>());
}

void CudaBackend::sgd_update(Tensor& param, const Tensor& grad, Tensor* momentum_buffer,
                             const SgdStep& st) {
  require_f32("sgd_update", param, grad);
  if (momentum_buffer) require_f32("sgd_update", *momentum_buffer);
  const int64_t n = param.numel();
  if (n == 0) return;
  const SgdOp op{param.data<float>(),
                 grad.data<float>(),
                 momentum_buffer ? momentum_buffer->data<float>() : nullptr,
                 static_cast<float>(st.lr),
                 static_cast<float>(st.weight_decay),
                 static_cast<float>(st.momentum),
                 static_cast<float>(1.0 - st.dampening),
                 st.first,
                 st.nesterov};
  map(op, n, {op.p, op.grad, op.buf});
}

void CudaBackend::sgd_update_all(const std::vector<SgdParam>& params, const SgdStep& st) {
  // Every parameter checked before the first launch: none is updated if one is refused.
  for (const SgdParam& sp : params) {
    require_f32("sgd_update", *sp.param, *sp.grad);
    if (sp.momentum_buffer) require_f32("sgd_update", *sp.momentum_buffer);
    SIRE_CHECK(sp.grad->numel() == sp.param->numel() &&
                   (!sp.momentum_buffer || sp.momentum_buffer->numel() == sp.param->numel()),
               "sgd_update: parameter ", sp.param->describe(), ", gradient ",
               sp.grad->describe(), ": sizes differ");
  }
  SgdList l{};
  int64_t elements = 0;
  auto launch = [&] {
    if (l.count > 0)
      SIRE_LAUNCH(sgd_list_kernel, grid_for(elements / 4 > 0 ? elements / 4 : 1), kBlock, l);
    l.count = 0, l.first = l.by4 = 0, elements = 0;
  };
  l.lr = static_cast<float>(st.lr);
  l.wd = static_cast<float>(st.weight_decay);
  l.mom = static_cast<float>(st.momentum);
  l.damp = static_cast<float>(1.0 - st.dampening);
  l.nesterov = st.nesterov;
  for (const SgdParam& sp : params) {
    const int64_t n = sp.param->numel();
    if (n == 0) continue;
    const int t = l.count++;
    l.p[t] = sp.param->data<float>();
    l.grad[t] = sp.grad->data<float>();
    l.buf[t] = sp.momentum_buffer ? sp.momentum_buffer->data<float>() : nullptr;
    l.n[t] = n;
    if (sp.first) l.first |= 1u << t;
    if (aligned16({l.p[t], l.grad[t], l.buf[t]})) l.by4 |= 1u << t;
    elements += n;
    if (l.count == kSgdList) launch();
  }
  launch();
}

}  // namespace sire::cuda
