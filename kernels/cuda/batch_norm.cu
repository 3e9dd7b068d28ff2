// Batch normalization per channel over (N, H, W).
//
// Statistics in one pass over x: each block sums (x - K) and (x - K)^2 in double over a
// contiguous part of one channel, K being the channel's first value; a second tiny kernel adds
// the parts in order and finishes mean and variance. Shifting by a value of the data keeps the
// sum of squares from cancelling (the textbook failure of E[x^2] - E[x]^2), and double sums make
// the rest exact enough: the variance agrees with the CPU's two-pass one to float rounding. The
// same partial-sum layout serves the backward pass. No atomics: the same bits every run.
#include <cmath>
#include <cstdint>

#include "kernels/cuda/channel_parts.cuh"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/launch.cuh"

namespace sire::cuda {
namespace {

// partial[c][part] = {sum (x - K), sum (x - K)^2}; grid (C, parts).
__global__ void stats_partial_kernel(const float* x, ChannelLayout l, double2* partial) {
  const int c = blockIdx.x, part = blockIdx.y;
  const double shift = x[static_cast<int64_t>(c) * l.inner];  // x[0][c][0]
  double s1 = 0.0, s2 = 0.0;
  for_part(l, c, part, {x}, [&](int64_t, const auto& v) {
    const double d = v[0] - shift;
    s1 += d;
    s2 += d * d;
  });
  s1 = block_sum(s1);
  s2 = block_sum(s2);
  if (threadIdx.x == 0) partial[c * l.parts + part] = make_double2(s1, s2);
}

// Channel c's statistics from its shifted sums (s1, s2 over all its values); running
// statistics as on the CPU (unbiased running variance).
__device__ void finish_stats(const float* x, const ChannelLayout& l, int c, double s1, double s2,
                             float* mean, float* invstd, float* running_mean, float* running_var,
                             double momentum, double eps) {
  const double m = static_cast<double>(l.count());
  const double d = s1 / m;
  const double mu = x[static_cast<int64_t>(c) * l.inner] + d;
  const double var = fmax(s2 / m - d * d, 0.0);
  mean[c] = static_cast<float>(mu);
  invstd[c] = static_cast<float>(1.0 / sqrt(var + eps));
  if (running_mean)
    running_mean[c] = static_cast<float>((1.0 - momentum) * running_mean[c] + momentum * mu);
  if (running_var)
    running_var[c] =
        static_cast<float>((1.0 - momentum) * running_var[c] + momentum * var * m / (m - 1.0));
}

// Channel c's partial sums (both of them) added in part order, from zero.
__device__ double2 sum_parts(const double2* partial, const ChannelLayout& l, int c) {
  double2 s = make_double2(0.0, 0.0);
  for (int p = 0; p < l.parts; ++p) {
    s.x += partial[c * l.parts + p].x;
    s.y += partial[c * l.parts + p].y;
  }
  return s;
}

// One thread per channel: parts added in order, then finish_stats.
__global__ void stats_finish_kernel(const float* x, ChannelLayout l, const double2* partial,
                                    float* mean, float* invstd, float* running_mean,
                                    float* running_var, double momentum, double eps) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= l.C) return;
  const double2 s = sum_parts(partial, l, c);
  finish_stats(x, l, c, s.x, s.y, mean, invstd, running_mean, running_var, momentum, eps);
}

__global__ void eval_stats_kernel(const float* running_mean, const float* running_var, int C,
                                  double eps, float* mean, float* invstd) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= C) return;
  mean[c] = running_mean[c];
  invstd[c] = static_cast<float>(1.0 / sqrt(static_cast<double>(running_var[c]) + eps));
}

// Channel c normalizes as y = fma(x, a, b), a = gamma invstd, b = fma(-mean, a, beta): the
// CPU's float operations, each fused multiply-add spelled out so that no contraction choice of
// the compiler can make the backward pass's recomputed ReLU mask differ from the forward's.
// (An aggregate, so that a block can hold one in shared memory.)
struct Affine {
  float a, b;
  __device__ static Affine of(const float* gamma, const float* beta, const float* mean,
                              const float* invstd, int c) {
    const float a = gamma[c] * invstd[c];
    return Affine{a, fmaf(-mean[c], a, beta[c])};
  }
  __device__ float operator()(float x) const { return fmaf(x, a, b); }
};

// One output value: t = Affine(x); with `add` summed before the ReLU, t + a; with Relu,
// max(t, 0) as the CPU's fused batch_norm_relu takes it (a NaN stays NaN); with `add` after the
// ReLU, + a.
template <bool Relu>
__device__ __forceinline__ float normalized(const Affine& f, float x, bool has_add, float a,
                                            bool add_before) {
  float t = f(x);
  if (has_add && add_before) t += a;
  t = Relu && t < 0.0f ? 0.0f : t;
  return has_add && !add_before ? t + a : t;
}

// y = gamma (x - mean) invstd + beta (Affine), with the ReLU and the added tensor (a skip
// connection or a residual) of normalized().
template <int V, bool Relu>
__global__ void normalize_kernel(const float* x, const float* gamma, const float* beta,
                                 const float* mean, const float* invstd, const float* add,
                                 bool add_before, float* y, int C, int inner, int64_t total) {
  for_groups<V>(total, C, inner, [&](int64_t g, int c) {
    const Affine f = Affine::of(gamma, beta, mean, invstd, c);
    Floats<V> v, a;
    v.load(x, g);
    if (add) a.load(add, g);
    for (int k = 0; k < V; ++k)
      v.v[k] = normalized<Relu>(f, v.v[k], add != nullptr, add ? a.v[k] : 0.0f, add_before);
    v.store(y, g);
  });
}

// The upstream gradient as batch norm sees it: with a fused ReLU, dy where its output was
// positive, recomputed from x as the forward computed it (reading x, not the output).
template <bool Relu>
__device__ __forceinline__ float masked(float dy, float x, const Affine& f) {
  return Relu && !(f(x) > 0.0f) ? 0.0f : dy;
}

// partial[c][part] = {sum dy, sum dy (x - mean) invstd}; grid (C, parts). With Relu, dy masked
// where the fused ReLU stopped it (beta is read only then).
template <bool Relu>
__global__ void grad_partial_kernel(const float* dy, const float* x, const float* gamma,
                                    const float* beta, const float* mean, const float* invstd,
                                    ChannelLayout l, double2* partial) {
  const int c = blockIdx.x, part = blockIdx.y;
  const double mu = mean[c], is = invstd[c];
  const Affine f = Affine::of(gamma, Relu ? beta : gamma, mean, invstd, c);
  double s_dy = 0.0, s_dy_xhat = 0.0;
  for_part(l, c, part, {dy, x}, [&](int64_t, const auto& v) {
    const double g = masked<Relu>(v[0], v[1], f);
    s_dy += g;
    s_dy_xhat += g * (v[1] - mu) * is;
  });
  s_dy = block_sum(s_dy);
  s_dy_xhat = block_sum(s_dy_xhat);
  if (threadIdx.x == 0) partial[c * l.parts + part] = make_double2(s_dy, s_dy_xhat);
}

// Channel c's parameter gradients from its sums, and the two means the input gradient needs
// (zero in eval mode, where the statistics do not depend on x).
__device__ double2 finish_grads(const ChannelLayout& l, int c, double s_dy, double s_dy_xhat,
                                bool training, float* dgamma, float* dbeta) {
  if (dgamma) dgamma[c] = static_cast<float>(s_dy_xhat);
  if (dbeta) dbeta[c] = static_cast<float>(s_dy);
  const double m = static_cast<double>(l.count());
  return training ? make_double2(s_dy / m, s_dy_xhat / m) : make_double2(0.0, 0.0);
}

// One thread per channel: parts added in order, then finish_grads.
__global__ void grad_finish_kernel(const double2* partial, ChannelLayout l, bool training,
                                   float* dgamma, float* dbeta, double2* means) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= l.C) return;
  const double2 s = sum_parts(partial, l, c);
  means[c] = finish_grads(l, c, s.x, s.y, training, dgamma, dbeta);
}

// dx = gamma invstd (dy - mean_dy - xhat mean_dy_xhat), in double as on the CPU; with Relu, dy
// masked (masked()).
template <int V, bool Relu>
__global__ void grad_input_kernel(const float* dy, const float* x, const float* gamma,
                                  const float* beta, const float* mean, const float* invstd,
                                  const double2* means, float* dx, int C, int inner,
                                  int64_t total) {
  for_groups<V>(total, C, inner, [&](int64_t g, int c) {
    const double mu = mean[c], is = invstd[c], k = gamma[c] * is;
    const Affine f = Affine::of(gamma, Relu ? beta : gamma, mean, invstd, c);
    const double2 m = means[c];
    Floats<V> vx, vdy;
    vx.load(x, g);
    vdy.load(dy, g);
    for (int j = 0; j < V; ++j) {
      const double xhat = (vx.v[j] - mu) * is;
      const float d = masked<Relu>(vdy.v[j], vx.v[j], f);
      vx.v[j] = static_cast<float>(k * (d - m.x - xhat * m.y));
    }
    vx.store(dx, g);
  });
}

// A channel of one part (at most 4096 values: SIRe-CNN's 8x8 and 4x4 levels at batch 64), one
// block each: what the kernels above do in three launches (sums, statistics, normalizing) in
// one, with the same operations in the same order. The channel's values are read twice, the
// second time from cache.
template <bool Relu>
__global__ void forward_train_channel_kernel(const float* x, const float* gamma, const float* beta,
                                             ChannelLayout l, float* mean, float* invstd,
                                             float* running_mean, float* running_var,
                                             double momentum, double eps, const float* add,
                                             bool add_before, float* y) {
  const int c = blockIdx.x;
  const double shift = x[static_cast<int64_t>(c) * l.inner];
  double s1 = 0.0, s2 = 0.0;
  for_part(l, c, 0, {x}, [&](int64_t, const auto& v) {
    const double d = v[0] - shift;
    s1 += d;
    s2 += d * d;
  });
  s1 = block_sum(s1);
  s2 = block_sum(s2);
  __shared__ Affine ab;
  if (threadIdx.x == 0) {
    finish_stats(x, l, c, 0.0 + s1, 0.0 + s2, mean, invstd, running_mean, running_var, momentum,
                 eps);
    ab = Affine::of(gamma, beta, mean, invstd, c);
  }
  __syncthreads();
  const Affine f = ab;
  if (add)
    for_part(l, c, 0, {x, add}, [&](int64_t at, const auto& v) {
      y[at] = normalized<Relu>(f, v[0], true, v[1], add_before);
    });
  else
    for_part(l, c, 0, {x}, [&](int64_t at, const auto& v) {
      y[at] = normalized<Relu>(f, v[0], false, 0.0f, add_before);
    });
}

// The backward pass of a one-part channel, one block each: grad_partial, grad_finish and
// grad_input's operations, in their order, in one launch.
template <bool Relu>
__global__ void backward_channel_kernel(const float* dy, const float* x, const float* gamma,
                                        const float* beta, const float* mean, const float* invstd,
                                        ChannelLayout l, bool training, float* dgamma, float* dbeta,
                                        float* dx) {
  const int c = blockIdx.x;
  const double mu = mean[c], is = invstd[c];
  const Affine f = Affine::of(gamma, Relu ? beta : gamma, mean, invstd, c);
  double s_dy = 0.0, s_dy_xhat = 0.0;
  for_part(l, c, 0, {dy, x}, [&](int64_t, const auto& v) {
    const double g = masked<Relu>(v[0], v[1], f);
    s_dy += g;
    s_dy_xhat += g * (v[1] - mu) * is;
  });
  s_dy = block_sum(s_dy);
  s_dy_xhat = block_sum(s_dy_xhat);
  __shared__ double2 means;
  if (threadIdx.x == 0)
    means = finish_grads(l, c, 0.0 + s_dy, 0.0 + s_dy_xhat, training, dgamma, dbeta);
  __syncthreads();
  if (!dx) return;
  const double k = gamma[c] * is;
  const double2 m = means;
  for_part(l, c, 0, {dy, x}, [&](int64_t at, const auto& v) {
    const double xhat = (v[1] - mu) * is;
    const float d = masked<Relu>(v[0], v[1], f);
    dx[at] = static_cast<float>(k * (d - m.x - xhat * m.y));
  });
}

unsigned channel_blocks(int C) { return static_cast<unsigned>((C + kBlock - 1) / kBlock); }

// y = normalized x (max(., 0) with relu, then + add when given), from the channels' mean and
// invstd.
void normalize(const ChannelLayout& l, const Tensor& x, const Tensor& gamma, const Tensor& beta,
               const Tensor& mean, const Tensor& invstd, const BnAdd& add, Tensor& y, bool relu) {
  const bool by4 = vectorizable(l.inner, {&x, &y, add.tensor});
  auto run = [&](auto k4, auto k1) {
    launch_elementwise(k4, k1, l, x.numel(), by4, x.data<float>(), gamma.data<float>(),
                       beta.data<float>(), mean.data<float>(), invstd.data<float>(),
                       add.tensor ? add.tensor->data<float>() : nullptr, add.before_relu,
                       y.data<float>());
  };
  if (relu)
    run(normalize_kernel<4, true>, normalize_kernel<1, true>);
  else
    run(normalize_kernel<4, false>, normalize_kernel<1, false>);
}

void forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& y,
                   Tensor& mean, Tensor& invstd, Tensor* running_mean, Tensor* running_var,
                   double momentum, double eps, bool relu, const BnAdd& add) {
  const char* op = relu ? "batch_norm_relu" : "batch_norm";
  require_f32(op, x, gamma, beta, y, mean, invstd);
  if (add.tensor) require_f32(op, *add.tensor);
  if (running_mean) require_f32(op, *running_mean);
  if (running_var) require_f32(op, *running_var);
  const ChannelLayout l = layout_of(x);
  if (l.C == 0 || l.count() == 0) return;
  if (l.parts == 1) {
    auto kernel = relu ? forward_train_channel_kernel<true> : forward_train_channel_kernel<false>;
    SIRE_LAUNCH(kernel, l.C, kBlock, x.data<float>(), gamma.data<float>(), beta.data<float>(), l,
                mean.data<float>(), invstd.data<float>(),
                running_mean ? running_mean->data<float>() : nullptr,
                running_var ? running_var->data<float>() : nullptr, momentum, eps,
                add.tensor ? add.tensor->data<float>() : nullptr, add.before_relu, y.data<float>());
    return;
  }
  Tensor partial = scratch(int64_t{2} * l.C * l.parts, DType::F64);
  auto* pp = static_cast<double2*>(partial.raw_data());
  SIRE_LAUNCH(stats_partial_kernel, dim3(l.C, l.parts), kBlock, x.data<float>(), l, pp);
  SIRE_LAUNCH(stats_finish_kernel, channel_blocks(l.C), kBlock, x.data<float>(), l, pp,
              mean.data<float>(), invstd.data<float>(),
              running_mean ? running_mean->data<float>() : nullptr,
              running_var ? running_var->data<float>() : nullptr, momentum, eps);
  normalize(l, x, gamma, beta, mean, invstd, add, y, relu);
}

void forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                  const Tensor& running_mean, const Tensor& running_var, double eps, Tensor& y,
                  Tensor& mean, Tensor& invstd, bool relu, const BnAdd& add) {
  const char* op = relu ? "batch_norm_relu" : "batch_norm";
  require_f32(op, x, gamma, beta, running_mean, running_var, y, mean, invstd);
  if (add.tensor) require_f32(op, *add.tensor);
  const ChannelLayout l = layout_of(x);
  if (l.C == 0) return;
  SIRE_LAUNCH(eval_stats_kernel, channel_blocks(l.C), kBlock, running_mean.data<float>(),
              running_var.data<float>(), l.C, eps, mean.data<float>(), invstd.data<float>());
  if (x.numel() == 0) return;
  normalize(l, x, gamma, beta, mean, invstd, add, y, relu);
}

// beta: the fused ReLU's (null without one), from which its mask is recomputed.
template <bool Relu>
void backward(const Tensor& dy, const Tensor& x, const Tensor& gamma, const Tensor* beta,
              const Tensor& mean, const Tensor& invstd, bool training, Tensor* dx, Tensor* dgamma,
              Tensor* dbeta) {
  const char* op = Relu ? "batch_norm_relu_backward" : "batch_norm_backward";
  require_f32(op, dy, x, gamma, mean, invstd);
  for (const Tensor* t : {beta, static_cast<const Tensor*>(dx), static_cast<const Tensor*>(dgamma),
                          static_cast<const Tensor*>(dbeta)})
    if (t) require_f32(op, *t);
  const ChannelLayout l = layout_of(x);
  if (l.C == 0) return;
  if (l.count() == 0) {  // no values: zero parameter gradients, nothing else
    if (dgamma) cuda_backend()->fill(*dgamma, 0.0);
    if (dbeta) cuda_backend()->fill(*dbeta, 0.0);
    return;
  }
  const float* pb = Relu ? beta->data<float>() : nullptr;
  if (l.parts == 1) {
    SIRE_LAUNCH(backward_channel_kernel<Relu>, l.C, kBlock, dy.data<float>(), x.data<float>(),
                gamma.data<float>(), pb, mean.data<float>(), invstd.data<float>(), l, training,
                dgamma ? dgamma->data<float>() : nullptr, dbeta ? dbeta->data<float>() : nullptr,
                dx ? dx->data<float>() : nullptr);
    return;
  }
  Tensor partial = scratch(int64_t{2} * l.C * l.parts, DType::F64);
  Tensor means = scratch(int64_t{2} * l.C, DType::F64);
  auto* pp = static_cast<double2*>(partial.raw_data());
  auto* pm = static_cast<double2*>(means.raw_data());
  SIRE_LAUNCH(grad_partial_kernel<Relu>, dim3(l.C, l.parts), kBlock, dy.data<float>(),
              x.data<float>(), gamma.data<float>(), pb, mean.data<float>(), invstd.data<float>(), l,
              pp);
  SIRE_LAUNCH(grad_finish_kernel, channel_blocks(l.C), kBlock, pp, l, training,
              dgamma ? dgamma->data<float>() : nullptr, dbeta ? dbeta->data<float>() : nullptr, pm);
  if (!dx) return;
  launch_elementwise(grad_input_kernel<4, Relu>, grad_input_kernel<1, Relu>, l, x.numel(),
                     vectorizable(l.inner, {&dy, &x, dx}), dy.data<float>(), x.data<float>(),
                     gamma.data<float>(), pb, mean.data<float>(), invstd.data<float>(), pm,
                     dx->data<float>());
}

}  // namespace

void CudaBackend::batch_norm_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                           Tensor& y, Tensor& mean, Tensor& invstd,
                                           Tensor* running_mean, Tensor* running_var,
                                           double momentum, double eps) {
  forward_train(x, gamma, beta, y, mean, invstd, running_mean, running_var, momentum, eps, false,
                BnAdd{});
}

// The fused batch norm + ReLU: the ReLU applied as y is written (with a skip connection or a
// residual summed in, when given), and its mask recomputed from x as dy is read (no separate
// ReLU pass, no masked copy of dy). A residual with fewer channels than x gets its missing ones
// as stored zeros (widened): one copy more than the CPU, whose kernels skip them.
void CudaBackend::batch_norm_relu_forward_train(const Tensor& x, const Tensor& gamma,
                                                const Tensor& beta, Tensor& y, Tensor& mean,
                                                Tensor& invstd, Tensor* running_mean,
                                                Tensor* running_var, double momentum, double eps,
                                                const BnAdd& add) {
  Tensor holder;
  forward_train(x, gamma, beta, y, mean, invstd, running_mean, running_var, momentum, eps, true,
                widened(add, x, holder));
}

void CudaBackend::batch_norm_forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                          const Tensor& running_mean, const Tensor& running_var,
                                          double eps, Tensor& y, Tensor& mean, Tensor& invstd) {
  forward_eval(x, gamma, beta, running_mean, running_var, eps, y, mean, invstd, false, BnAdd{});
}

void CudaBackend::batch_norm_relu_forward_eval(const Tensor& x, const Tensor& gamma,
                                               const Tensor& beta, const Tensor& running_mean,
                                               const Tensor& running_var, double eps, Tensor& y,
                                               Tensor& mean, Tensor& invstd, const BnAdd& add) {
  Tensor holder;
  forward_eval(x, gamma, beta, running_mean, running_var, eps, y, mean, invstd, true,
               widened(add, x, holder));
}

void CudaBackend::batch_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma,
                                      const Tensor& mean, const Tensor& invstd, bool training,
                                      Tensor* dx, Tensor* dgamma, Tensor* dbeta) {
  backward<false>(dy, x, gamma, nullptr, mean, invstd, training, dx, dgamma, dbeta);
}

void CudaBackend::batch_norm_relu_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma,
                                           const Tensor& beta, const Tensor& mean,
                                           const Tensor& invstd, bool training, Tensor* dx,
                                           Tensor* dgamma, Tensor* dbeta) {
  backward<true>(dy, x, gamma, &beta, mean, invstd, training, dx, dgamma, dbeta);
}

}  // namespace sire::cuda
