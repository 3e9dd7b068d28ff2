// Losses and reductions to one element: softmax cross-entropy, fused MSE, sum, and the
// broadcast of a scalar gradient. Sums are in double, in blocks of a fixed layout added in order
// by one last thread: the same bits every run, on any GPU. Backward kernels read the upstream
// gradient g[0] on the device.
#include <climits>

#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/launch.cuh"

namespace sire::cuda {
namespace {

// Blocks of a reduction over n values, from n alone: ~4096 values a block, at most 1024 blocks.
int reduce_blocks(int64_t n) {
  const int64_t b = (n + 4095) / 4096;
  return static_cast<int>(b < 1 ? 1 : (b > 1024 ? 1024 : b));
}

// partial[block] = sum of f(i) over the block's contiguous chunk of [0, n).
template <class F>
__global__ void partial_sum_kernel(int64_t n, F f, double* partial) {
  const int64_t chunk = (n + gridDim.x - 1) / gridDim.x;
  const int64_t begin = blockIdx.x * chunk, end = begin + chunk < n ? begin + chunk : n;
  double s = 0.0;
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) s += f(i);
  s = block_sum(s);
  if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

// out[0] = scale * (sum of the parts, in order).
__global__ void finish_sum_kernel(const double* partial, int parts, double scale, float* out) {
  if (threadIdx.x != 0 || blockIdx.x != 0) return;
  double s = 0.0;
  for (int p = 0; p < parts; ++p) s += partial[p];
  out[0] = static_cast<float>(s * scale);
}

struct SquaredDiff {
  const float *a, *b;
  __device__ double operator()(int64_t i) const {
    const double d = static_cast<double>(a[i]) - b[i];
    return d * d;
  }
};

struct Value {
  const float* x;
  __device__ double operator()(int64_t i) const { return x[i]; }
};

struct AbsValue {
  const float* x;
  __device__ double operator()(int64_t i) const { return fabs(static_cast<double>(x[i])); }
};

template <class F>
void reduce_to_scalar(int64_t n, F f, double scale, Tensor& out) {
  const int parts = reduce_blocks(n);
  Tensor partial = scratch(parts, DType::F64);
  double* pp = static_cast<double*>(partial.raw_data());
  auto kernel = partial_sum_kernel<F>;
  SIRE_LAUNCH(kernel, parts, kBlock, n, f, pp);
  SIRE_LAUNCH(finish_sum_kernel, 1, 32, pp, parts, scale, out.data<float>());
}

// Per sample (one block per row of logits): log(sum exp(z - max)) + max in double, as the CPU.
__device__ double row_log_sum_exp(const float* row, int M) {
  float mx = -INFINITY;
  for (int j = threadIdx.x; j < M; j += blockDim.x)
    mx = row[j] > mx || row[j] != row[j] ? row[j] : mx;
  const double m = block_max(mx);
  double s = 0.0;
  for (int j = threadIdx.x; j < M; j += blockDim.x) s += exp(row[j] - m);
  return m + log(block_sum(s));
}

// loss_n = lse - z[label]; a label outside [0, M) records the smallest such sample in *bad.
__global__ void cross_entropy_rows_kernel(const float* z, const int32_t* labels, int M,
                                          double* per_sample, int* bad) {
  const int n = blockIdx.x;
  const float* row = z + static_cast<int64_t>(n) * M;
  const double lse = row_log_sum_exp(row, M);
  if (threadIdx.x != 0) return;
  const int label = labels[n];
  if (label < 0 || label >= M) {
    atomicMin(bad, n);  // an int flag, not a float sum: order does not matter
    per_sample[n] = NAN;
    return;
  }
  per_sample[n] = lse - row[label];
}

// dz[n][j] = g / N (softmax_j - [j == label]).
__global__ void cross_entropy_backward_kernel(const float* z, const int32_t* labels, const float* g,
                                              int N, int M, float* dz) {
  const int n = blockIdx.x;
  const float* row = z + static_cast<int64_t>(n) * M;
  const double lse = row_log_sum_exp(row, M);
  const double scale = static_cast<double>(g[0]) / N;
  const int label = labels[n];
  for (int j = threadIdx.x; j < M; j += blockDim.x)
    dz[static_cast<int64_t>(n) * M + j] =
        static_cast<float>(scale * (exp(row[j] - lse) - (j == label ? 1 : 0)));
}

// da = 2 g / n (a - b), db = -da: one pass, no difference tensor.
__global__ void mse_backward_kernel(const float* a, const float* b, const float* g, float* da,
                                    float* db, int64_t n) {
  const float k = static_cast<float>(2.0 * g[0] / static_cast<double>(n));
  SIRE_GRID_LOOP(i, n) {
    const float d = k * (a[i] - b[i]);
    if (da) da[i] = d;
    if (db) db[i] = -d;
  }
}

__global__ void broadcast_kernel(const float* g, double alpha, float* y, int64_t n) {
  const float v = static_cast<float>(alpha * g[0]);
  SIRE_GRID_LOOP(i, n) y[i] = v;
}

}  // namespace

void CudaBackend::softmax_cross_entropy_forward(const Tensor& logits, const Tensor& labels,
                                                Tensor& loss) {
  require_f32("cross_entropy", logits, loss);
  require_i32("cross_entropy", labels);
  const int N = static_cast<int>(logits.size(0)), M = static_cast<int>(logits.size(1));
  SIRE_CHECK(N > 0, "cross_entropy: empty batch ", logits.describe());
  Tensor per_sample = scratch(N, DType::F64);
  Tensor bad = Tensor::full({1}, INT_MAX, DType::I32, Device::CUDA);
  double* ps = static_cast<double*>(per_sample.raw_data());
  SIRE_LAUNCH(cross_entropy_rows_kernel, N, kBlock, logits.data<float>(), labels.data<int32_t>(), M,
              ps, bad.data<int32_t>());
  SIRE_LAUNCH(finish_sum_kernel, 1, 32, ps, N, 1.0 / N, loss.data<float>());
  // Labels are checked as on the CPU; reading the flag waits for the kernels (one small copy).
  const Tensor host_bad = bad.to(Device::CPU);
  const int first = host_bad.data<int32_t>()[0];
  if (first != INT_MAX) {
    const Tensor host_labels = labels.to(Device::CPU);
    SIRE_FAIL("cross_entropy: label ", host_labels.data<int32_t>()[first], " of sample ", first,
              " is outside [0, ", M, ")");
  }
}

void CudaBackend::softmax_cross_entropy_backward(const Tensor& logits, const Tensor& labels,
                                                 const Tensor& g, Tensor& dlogits) {
  require_f32("cross_entropy_backward", logits, g, dlogits);
  require_i32("cross_entropy_backward", labels);
  const int N = static_cast<int>(logits.size(0)), M = static_cast<int>(logits.size(1));
  if (N == 0) return;
  SIRE_LAUNCH(cross_entropy_backward_kernel, N, kBlock, logits.data<float>(),
              labels.data<int32_t>(), g.data<float>(), N, M, dlogits.data<float>());
}

void CudaBackend::mse_forward(const Tensor& a, const Tensor& b, Tensor& loss) {
  require_f32("mse_loss", a, b, loss);
  const int64_t n = a.numel();
  SIRE_CHECK(n > 0, "mse_loss: empty inputs ", a.describe());
  reduce_to_scalar(n, SquaredDiff{a.data<float>(), b.data<float>()}, 1.0 / static_cast<double>(n),
                   loss);
}

void CudaBackend::mse_backward(const Tensor& a, const Tensor& b, const Tensor& g, Tensor* da,
                               Tensor* db) {
  require_f32("mse_loss_backward", a, b, g);
  for (Tensor* t : {da, db})
    if (t) require_f32("mse_loss_backward", *t);
  const int64_t n = a.numel();
  if (n == 0 || (!da && !db)) return;
  SIRE_LAUNCH(mse_backward_kernel, grid_for(n), kBlock, a.data<float>(), b.data<float>(),
              g.data<float>(), da ? da->data<float>() : nullptr, db ? db->data<float>() : nullptr,
              n);
}

void CudaBackend::sum(const Tensor& x, Tensor& out) {
  require_f32("sum", x, out);
  reduce_to_scalar(x.numel(), Value{x.data<float>()}, 1.0, out);
}

void CudaBackend::sum_abs(const Tensor& x, Tensor& out) {
  require_f32("sum_abs", x, out);
  reduce_to_scalar(x.numel(), AbsValue{x.data<float>()}, 1.0, out);
}

void CudaBackend::broadcast_scalar(const Tensor& g, double alpha, Tensor& y) {
  require_f32("broadcast_scalar", g, y);
  const int64_t n = y.numel();
  if (n == 0) return;
  SIRE_LAUNCH(broadcast_kernel, grid_for(n), kBlock, g.data<float>(), alpha, y.data<float>(), n);
}

}  // namespace sire::cuda
