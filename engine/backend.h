// The one interface between the engine and its kernels: one function per kernel. The engine's
// ops check shapes, allocate outputs and record gradients; a backend only computes. The CPU
// backend (kernels/cpu) is the reference; the CUDA backend (kernels/cuda) must agree with it.
//
// Conventions: every output tensor is allocated by the caller with the right shape, dtype and
// device, and is overwritten (never accumulated into) unless the name says otherwise. Optional
// inputs and outputs are pointers that may be null.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/tensor.h"
#include "kernels/common/conv_geometry.h"
#include "kernels/common/pool_geometry.h"

namespace sire {

struct SgdStep {
  double lr = 0.01, momentum = 0.0, dampening = 0.0, weight_decay = 0.0;
  bool nesterov = false;
  bool first = false;  // the momentum buffer is empty: it becomes the first gradient
};

// One parameter of Backend::sgd_update_all: its gradient, its momentum buffer (null without
// momentum) and whether that buffer is still empty (the parameter's first step).
struct SgdParam {
  Tensor* param;
  const Tensor* grad;
  Tensor* momentum_buffer;
  bool first;
};

// A tensor (shaped as the input) summed into a fused batch norm + ReLU's output: after the ReLU,
// max(0, bn(x)) + add (a skip connection), or before it, max(0, bn(x) + add) (a residual). A
// residual may have fewer channels than x (N, H, W the same): the missing last ones are zeros
// (a shortcut that widens by zero channels), read from nowhere.
struct BnAdd {
  const Tensor* tensor = nullptr;  // none: max(0, bn(x))
  bool before_relu = false;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Device device() const = 0;
  // Waits until every kernel launched so far has finished (timing); a no-op on the CPU.
  virtual void synchronize() {}

  // Memory.
  virtual void fill(Tensor& t, double value) = 0;
  virtual void copy(const Tensor& src, Tensor& dst) = 0;     // equal byte counts; may cross devices
  virtual void convert(const Tensor& src, Tensor& dst) = 0;  // same numel, another dtype

  // Element-wise.
  virtual void add(const Tensor& a, const Tensor& b, Tensor& y) = 0;
  // y = ((xs[0] + xs[1]) + xs[2]) + ...: a gradient's contributions summed in one pass, in the
  // order (so with the bits) of pairwise adds. y may be xs[0] itself. The default adds pairwise.
  virtual void add_n(const std::vector<const Tensor*>& xs, Tensor& y);
  virtual void axpy(double alpha, const Tensor& x, Tensor& y) = 0;  // y += alpha * x
  virtual void scale(const Tensor& x, double alpha, Tensor& y) = 0;
  virtual void relu_forward(const Tensor& x, Tensor& y) = 0;
  virtual void relu_backward(const Tensor& y, const Tensor& dy, Tensor& dx) = 0;
  // Keeps element i with probability 1 - p (Philox stream (seed, stream)), scaled by 1/(1 - p).
  virtual void dropout_forward(const Tensor& x, Tensor& y, double p, uint64_t seed,
                               uint64_t stream) = 0;
  virtual void dropout_backward(const Tensor& dy, Tensor& dx, double p, uint64_t seed,
                                uint64_t stream) = 0;
  // dst[:, dst_c0 + i] = src[:, src_c0 + i] for i < count, on NC... tensors (concat, split, pad).
  virtual void channel_copy(const Tensor& src, int64_t src_c0, Tensor& dst, int64_t dst_c0,
                            int64_t count) = 0;
  virtual void bias_add(Tensor& y, const Tensor& bias) = 0;          // y[:, c] += bias[c]
  virtual void channel_sum(const Tensor& x, Tensor& out) = 0;        // out[c] = sum of x[:, c]

  // Convolution (see kernels/common/conv_geometry.h for ConvGeom).
  virtual void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y,
                              const ConvGeom& g) = 0;
  virtual void conv2d_backward_data(const Tensor& dy, const Tensor& w, Tensor& dx,
                                    const ConvGeom& g) = 0;
  virtual void conv2d_backward_weight(const Tensor& x, const Tensor& dy, Tensor& dw,
                                      const ConvGeom& g) = 0;

  // Pooling and resampling.
  virtual void max_pool2d_forward(const Tensor& x, Tensor& y, Tensor& indices,
                                  const PoolGeom& g) = 0;
  virtual void max_pool2d_backward(const Tensor& dy, const Tensor& indices, Tensor& dx,
                                   const PoolGeom& g) = 0;
  // y = upsample(x), plus `add` (same shape as y) when given: a skip connection summed as the
  // output is written, without an upsampled tensor in between.
  virtual void upsample_nearest2d_forward(const Tensor& x, Tensor& y, const Tensor* add) = 0;
  virtual void upsample_nearest2d_backward(const Tensor& dy, Tensor& dx) = 0;
  virtual void adaptive_avg_pool2d_forward(const Tensor& x, Tensor& y) = 0;
  virtual void adaptive_avg_pool2d_backward(const Tensor& dy, Tensor& dx) = 0;

  // Batch normalization per channel over (N, H, W). Both forwards write the mean and 1/std they
  // normalized with; backward takes them (training: batch statistics; eval: running ones).
  virtual void batch_norm_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                        Tensor& y, Tensor& mean, Tensor& invstd,
                                        Tensor* running_mean, Tensor* running_var,
                                        double momentum, double eps) = 0;
  virtual void batch_norm_forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                       const Tensor& running_mean, const Tensor& running_var,
                                       double eps, Tensor& y, Tensor& mean, Tensor& invstd) = 0;
  virtual void batch_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma,
                                   const Tensor& mean, const Tensor& invstd, bool training,
                                   Tensor* dx, Tensor* dgamma, Tensor* dbeta) = 0;

  // Batch norm and a ReLU in one pass each way (the forward defaults run the two kernels one
  // after the other). The backward finds where the ReLU stopped dy from x, gamma and beta: it
  // recomputes each output's sign with the forward's own float operations (the same bits), so
  // it reads x and dy where reading the output too would add a third stream.
  // `add` (BnAdd), when given, is summed into y in the same pass, after or before the ReLU.
  virtual void batch_norm_relu_forward_train(const Tensor& x, const Tensor& gamma,
                                             const Tensor& beta, Tensor& y, Tensor& mean,
                                             Tensor& invstd, Tensor* running_mean,
                                             Tensor* running_var, double momentum, double eps,
                                             const BnAdd& add);
  virtual void batch_norm_relu_forward_eval(const Tensor& x, const Tensor& gamma,
                                            const Tensor& beta, const Tensor& running_mean,
                                            const Tensor& running_var, double eps, Tensor& y,
                                            Tensor& mean, Tensor& invstd, const BnAdd& add);
  virtual void batch_norm_relu_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma,
                                        const Tensor& beta, const Tensor& mean,
                                        const Tensor& invstd, bool training, Tensor* dx,
                                        Tensor* dgamma, Tensor* dbeta) = 0;
  // The backward of max(0, bn(x) + add) (BnAdd before the ReLU): dy counts where the output y
  // was positive (the mask read from y, as relu_backward reads it), and that masked gradient is
  // also the residual's: `dadd`, when given, receives its first dadd->size(1) channels. The
  // default runs relu_backward, batch_norm_backward and a channel copy one after the other (a
  // fused CPU pass measured no faster: docs/performance.md).
  virtual void batch_norm_add_relu_backward(const Tensor& dy, const Tensor& y, const Tensor& x,
                                            const Tensor& gamma, const Tensor& mean,
                                            const Tensor& invstd, bool training, Tensor* dx,
                                            Tensor* dgamma, Tensor* dbeta, Tensor* dadd);

  // Dense layers: y = x w^T + bias, x [N, I], w [O, I].
  virtual void linear_forward(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y) = 0;
  virtual void linear_backward(const Tensor& dy, const Tensor& x, const Tensor& w, Tensor* dx,
                               Tensor* dw, Tensor* dbias) = 0;

  // Losses and reductions to one element. `g` is the 1-element upstream gradient, read on the
  // device so that no copy to the host is needed.
  virtual void softmax_cross_entropy_forward(const Tensor& logits, const Tensor& labels,
                                             Tensor& loss) = 0;
  virtual void softmax_cross_entropy_backward(const Tensor& logits, const Tensor& labels,
                                              const Tensor& g, Tensor& dlogits) = 0;
  virtual void mse_forward(const Tensor& a, const Tensor& b, Tensor& loss) = 0;
  virtual void mse_backward(const Tensor& a, const Tensor& b, const Tensor& g, Tensor* da,
                            Tensor* db) = 0;
  virtual void sum(const Tensor& x, Tensor& out) = 0;
  // out[0] = sum of |x|, and sum of x^2; the defaults go through the host (backends may do better).
  virtual void sum_abs(const Tensor& x, Tensor& out);
  virtual void sum_squares(const Tensor& x, Tensor& out);
  virtual void broadcast_scalar(const Tensor& g, double alpha, Tensor& y) = 0;  // y[i] = alpha g[0]

  // One fused SGD step, PyTorch's rule: d = grad + wd p; buf = momentum buf + (1 - dampening) d
  // (buf = d on the first step); d = nesterov ? d + momentum buf : buf; p -= lr d.
  virtual void sgd_update(Tensor& param, const Tensor& grad, Tensor* momentum_buffer,
                          const SgdStep& step) = 0;
  // sgd_update of every parameter (step.first is taken from each): one call for all, so that a
  // backend may update many per launch (the CUDA one: a SIRe-CNN step's 110 parameters in 4
  // launches, not 110). The default calls sgd_update on each.
  virtual void sgd_update_all(const std::vector<SgdParam>& params, const SgdStep& step);

 protected:
  // `add` with every channel of x: a residual's missing channels as stored zeros, in `holder`
  // (for kernels that index the added tensor as they index x).
  BnAdd widened(const BnAdd& add, const Tensor& x, Tensor& holder);
};

// The backend that runs kernels for tensors on `device`; throws when the build has none.
Backend& backend_for(Device device);

// Defined by kernels/cpu and (in CUDA builds) kernels/cuda; the CUDA one is null without a GPU.
Backend& cpu_backend();
Backend* cuda_backend();

// Threads of the CPU backend (OpenMP and OpenBLAS); 0 means one per core.
void set_cpu_threads(int threads);
int cpu_threads();

}  // namespace sire
