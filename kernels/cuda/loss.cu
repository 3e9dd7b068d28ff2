// Losses and reductions to one element: softmax cross-entropy, fused MSE, sum, and the
// broadcast of a scalar gradient. Sums are in double, in blocks of a fixed layout added in order
// by one last thread: the same bits every run, on any GPU. Backward kernels read the upstream
// gradient g[0] on the device.
#include <climits>
#include <mutex>
#include <vector>

#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/launch.cuh"

namespace sire::cuda {
namespace {

// Blocks of a reduction over n values, from n alone: ~4096 values a block, at most 1024 blocks.
int reduce_blocks(int64_t n) {
  const int64_t b = (n + 4095) / 4096;
  return static_cast<int>(b < 1 ? 1 : (b > 1024 ? 1024 : b));
}

// partial[block] = sum of f(i) over the block's contiguous chunk of [0, n); finish_sum_kernel adds
// the parts. Two launches: a one-launch version (the last block adding the parts, found by a
// device counter) and ~1024 values a block were tried and measured no faster on an H200
// (docs/cuda.md), for a counter that every reduction on every stream would share.
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

struct SquaredValue {
  const float* x;
  __device__ double operator()(int64_t i) const {
    const double v = x[i];
    return v * v;
  }
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

// loss_n = lse - z[label]; a label outside [0, M) makes the loss NaN and records the smallest
// such sample in *bad, as INT_MAX - n (0: none; the largest value is the smallest sample).
__global__ void cross_entropy_rows_kernel(const float* z, const int32_t* labels, int M,
                                          double* per_sample, int* bad) {
  const int n = blockIdx.x;
  const float* row = z + static_cast<int64_t>(n) * M;
  const double lse = row_log_sum_exp(row, M);
  if (threadIdx.x != 0) return;
  const int label = labels[n];
  if (label < 0 || label >= M) {
    atomicMax(bad, INT_MAX - n);  // an int flag, not a float sum: order does not matter
    per_sample[n] = NAN;
    return;
  }
  per_sample[n] = lse - row[label];
}

// dz[n][j] = g / N (softmax_j - [j == label]). A label outside [0, M), which the forward has
// flagged (reported at the next wait), makes its row NaN, as its loss is: until the report, a
// step that uses this gradient visibly poisons what it updates instead of training on it.
__global__ void cross_entropy_backward_kernel(const float* z, const int32_t* labels, const float* g,
                                              int N, int M, float* dz) {
  const int n = blockIdx.x;
  const float* row = z + static_cast<int64_t>(n) * M;
  const int label = labels[n];
  if (label < 0 || label >= M) {
    for (int j = threadIdx.x; j < M; j += blockDim.x) dz[static_cast<int64_t>(n) * M + j] = NAN;
    return;
  }
  const double lse = row_log_sum_exp(row, M);
  const double scale = static_cast<double>(g[0]) / N;
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

// Labels are checked as on the CPU, but without making the host wait for the GPU at every loss
// (which kept it from queueing the backward pass while the forward ran): each call's kernel
// flags its first bad sample in a slot of a small device array, and the slots are read where the
// host waits anyway (check_pending_labels), or when all are taken. A slot is handed out and its
// kernel launched under one lock, so that no check reads a slot whose kernel is not queued yet.
constexpr int kLabelSlots = 64;
struct PendingLabels {
  Tensor labels;  // kept alive until checked, to name the bad label
  int classes;
};
struct LabelChecks {
  std::mutex mu;
  Tensor slots;  // i32[kLabelSlots] on the GPU, zero when free
  std::vector<PendingLabels> pending;
};
LabelChecks& label_checks() {
  static LabelChecks* checks = new LabelChecks;  // never destroyed: no order of exit to get wrong
  return *checks;
}

// The queued checks and their flags, taken off the queue (the lock held). The flags are read
// before anything changes, so that a failed read leaves the queue as it was.
struct Flagged {
  std::vector<PendingLabels> pending;
  std::vector<int32_t> flags;
};
Flagged take_flags(LabelChecks& c) {
  Flagged f;
  if (c.pending.empty()) return f;
  f.flags.resize(c.pending.size());
  // A synchronous copy: it waits for the kernels that set the flags.
  SIRE_CUDA_CHECK(
      cudaMemcpy(f.flags.data(), c.slots.raw_data(), f.flags.size() * 4, cudaMemcpyDeviceToHost));
  SIRE_CUDA_CHECK(cudaMemsetAsync(c.slots.raw_data(), 0, f.flags.size() * 4, 0));
  f.pending.swap(c.pending);
  return f;
}

// Throws for the first flagged check (the lock not held: it reads the labels).
void report(const Flagged& f) {
  for (size_t i = 0; i < f.pending.size(); ++i) {
    if (f.flags[i] == 0) continue;
    const int n = INT_MAX - f.flags[i];
    int32_t label = 0;
    SIRE_CUDA_CHECK(
        cudaMemcpy(&label, f.pending[i].labels.data<int32_t>() + n, 4, cudaMemcpyDeviceToHost));
    SIRE_FAIL("cross_entropy: label ", label, " of sample ", n, " is outside [0, ",
              f.pending[i].classes, ")");
  }
}

// Queues a check of `labels` and runs launch(slot) for it, the slot's kernel launched before
// any check can read the slot; when all slots are taken, the queued checks are read first (and
// reported once this call's kernel is queued).
template <class Launch>
void with_label_check(const Tensor& labels, int classes, Launch launch) {
  LabelChecks& c = label_checks();
  Flagged full;
  {
    std::lock_guard<std::mutex> lock(c.mu);
    if (static_cast<int>(c.pending.size()) == kLabelSlots) full = take_flags(c);
    if (!c.slots.defined()) {
      c.slots = scratch(kLabelSlots, DType::I32);
      SIRE_CUDA_CHECK(cudaMemsetAsync(c.slots.raw_data(), 0, c.slots.nbytes(), 0));
    }
    int* slot = c.slots.data<int32_t>() + c.pending.size();
    launch(slot);
    c.pending.push_back({labels, classes});
  }
  report(full);
}

}  // namespace

void check_pending_labels() {
  LabelChecks& c = label_checks();
  Flagged f;
  {
    std::lock_guard<std::mutex> lock(c.mu);
    f = take_flags(c);
  }
  report(f);
}

void CudaBackend::softmax_cross_entropy_forward(const Tensor& logits, const Tensor& labels,
                                                Tensor& loss) {
  require_f32("cross_entropy", logits, loss);
  require_i32("cross_entropy", labels);
  const int N = static_cast<int>(logits.size(0)), M = static_cast<int>(logits.size(1));
  SIRE_CHECK(N > 0, "cross_entropy: empty batch ", logits.describe());
  Tensor per_sample = scratch(N, DType::F64);
  double* ps = static_cast<double*>(per_sample.raw_data());
  with_label_check(labels, M, [&](int* bad) {
    SIRE_LAUNCH(cross_entropy_rows_kernel, N, kBlock, logits.data<float>(),
                labels.data<int32_t>(), M, ps, bad);
  });
  SIRE_LAUNCH(finish_sum_kernel, 1, 32, ps, N, 1.0 / N, loss.data<float>());
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

void CudaBackend::sum_squares(const Tensor& x, Tensor& out) {
  require_f32("sum_squares", x, out);
  reduce_to_scalar(x.numel(), SquaredValue{x.data<float>()}, 1.0, out);
}

void CudaBackend::broadcast_scalar(const Tensor& g, double alpha, Tensor& y) {
  require_f32("broadcast_scalar", g, y);
  const int64_t n = y.numel();
  if (n == 0) return;
  SIRE_LAUNCH(broadcast_kernel, grid_for(n), kBlock, g.data<float>(), alpha, y.data<float>(), n);
}

}  // namespace sire::cuda
