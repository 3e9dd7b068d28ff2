// The CUDA backend: hand-written kernels (kernels/cuda/*.cu, one file per op family, each kernel
// beside its one-line checked launcher) and cuBLAS for dense layers. It computes in f32 only
// (i32 for labels and pooling indices); f64 tensors may be copied to the GPU, but every kernel
// refuses them, naming the op and the tensor. Every kernel runs on the default stream, so kernels,
// copies and the caching allocator's reuse of blocks all follow the order of the calls.
#pragma once

#include <cstdint>

#include "engine/backend.h"

namespace sire::cuda {

class CudaBackend final : public Backend {
 public:
  Device device() const override { return Device::CUDA; }
  void synchronize() override;

  void fill(Tensor& t, double value) override;
  void copy(const Tensor& src, Tensor& dst) override;
  void convert(const Tensor& src, Tensor& dst) override;

  void add(const Tensor& a, const Tensor& b, Tensor& y) override;
  void add_n(const std::vector<const Tensor*>& xs, Tensor& y) override;
  void axpy(double alpha, const Tensor& x, Tensor& y) override;
  void scale(const Tensor& x, double alpha, Tensor& y) override;
  void relu_forward(const Tensor& x, Tensor& y) override;
  void relu_backward(const Tensor& y, const Tensor& dy, Tensor& dx) override;
  void dropout_forward(const Tensor& x, Tensor& y, double p, uint64_t seed,
                       uint64_t stream) override;
  void dropout_backward(const Tensor& dy, Tensor& dx, double p, uint64_t seed,
                        uint64_t stream) override;
  void channel_copy(const Tensor& src, int64_t src_c0, Tensor& dst, int64_t dst_c0,
                    int64_t count) override;
  void bias_add(Tensor& y, const Tensor& bias) override;
  void channel_sum(const Tensor& x, Tensor& out) override;

  void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y,
                      const ConvGeom& g) override;
  void conv2d_backward_data(const Tensor& dy, const Tensor& w, Tensor& dx,
                            const ConvGeom& g) override;
  void conv2d_backward_weight(const Tensor& x, const Tensor& dy, Tensor& dw,
                              const ConvGeom& g) override;

  void max_pool2d_forward(const Tensor& x, Tensor& y, Tensor& indices, const PoolGeom& g) override;
  void max_pool2d_backward(const Tensor& dy, const Tensor& indices, Tensor& dx,
                           const PoolGeom& g) override;
  void upsample_nearest2d_forward(const Tensor& x, Tensor& y, const Tensor* add) override;
  void upsample_nearest2d_backward(const Tensor& dy, Tensor& dx) override;
  void adaptive_avg_pool2d_forward(const Tensor& x, Tensor& y) override;
  void adaptive_avg_pool2d_backward(const Tensor& dy, Tensor& dx) override;

  void batch_norm_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& y,
                                Tensor& mean, Tensor& invstd, Tensor* running_mean,
                                Tensor* running_var, double momentum, double eps) override;
  void batch_norm_forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                               const Tensor& running_mean, const Tensor& running_var, double eps,
                               Tensor& y, Tensor& mean, Tensor& invstd) override;
  void batch_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma,
                           const Tensor& mean, const Tensor& invstd, bool training, Tensor* dx,
                           Tensor* dgamma, Tensor* dbeta) override;
  void batch_norm_relu_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                     Tensor& y, Tensor& mean, Tensor& invstd, Tensor* running_mean,
                                     Tensor* running_var, double momentum, double eps,
                                     const BnAdd& add) override;
  void batch_norm_relu_forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                    const Tensor& running_mean, const Tensor& running_var,
                                    double eps, Tensor& y, Tensor& mean, Tensor& invstd,
                                    const BnAdd& add) override;
  void batch_norm_relu_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma,
                                const Tensor& beta, const Tensor& mean, const Tensor& invstd,
                                bool training, Tensor* dx, Tensor* dgamma, Tensor* dbeta) override;

  void linear_forward(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y) override;
  void linear_backward(const Tensor& dy, const Tensor& x, const Tensor& w, Tensor* dx, Tensor* dw,
                       Tensor* dbias) override;

  void softmax_cross_entropy_forward(const Tensor& logits, const Tensor& labels,
                                     Tensor& loss) override;
  void softmax_cross_entropy_backward(const Tensor& logits, const Tensor& labels, const Tensor& g,
                                      Tensor& dlogits) override;
  void mse_forward(const Tensor& a, const Tensor& b, Tensor& loss) override;
  void mse_backward(const Tensor& a, const Tensor& b, const Tensor& g, Tensor* da,
                    Tensor* db) override;
  void sum(const Tensor& x, Tensor& out) override;
  void sum_abs(const Tensor& x, Tensor& out) override;
  void sum_squares(const Tensor& x, Tensor& out) override;
  void broadcast_scalar(const Tensor& g, double alpha, Tensor& y) override;

  void sgd_update(Tensor& param, const Tensor& grad, Tensor* momentum_buffer,
                  const SgdStep& step) override;
  void sgd_update_all(const std::vector<SgdParam>& params, const SgdStep& step) override;
};

// Checks shared by the launchers. Kernels index with 32-bit integers inside a tensor (offsets of
// whole images are 64-bit), so a tensor may hold at most 2^31 - 1 elements.
inline void require_f32_one(const char* op, const Tensor& t) {
  SIRE_CHECK(t.dtype() == DType::F32, op, ": the CUDA backend computes in f32 only; got ",
             t.describe());
  SIRE_CHECK(t.numel() < (int64_t{1} << 31), op, ": ", t.describe(),
             " has 2^31 elements or more, beyond the CUDA kernels' 32-bit indexing");
}
template <class... Ts>
void require_f32(const char* op, const Ts&... ts) {
  (require_f32_one(op, ts), ...);
}
inline void require_i32(const char* op, const Tensor& t) {
  SIRE_CHECK(t.dtype() == DType::I32, op, ": expected an i32 tensor, got ", t.describe());
}

// Cross-entropy's label check, deferred (loss.cu): reads the checks queued since the last call
// and throws, naming the op, the label and the sample, if a label was out of range. Called where
// the host waits for the GPU anyway: synchronize() and every copy to the host.
void check_pending_labels();

// Winograd F(4x4, 3x3) (conv_winograd.cu): out = the convolution of `in` (with input_gradient,
// the input gradient dx of a convolution of geometry g from in = dy), + bias when given, if
// conv::winograd_takes(g, ...) under the current settings; false (nothing done) if not.
bool winograd_conv(const char* op, const Tensor& in, const Tensor& w, const Tensor* bias,
                   Tensor& out, const ConvGeom& g, bool input_gradient);
// dw of a convolution of geometry g by Winograd, under the same condition; false if not taken.
bool winograd_weight_grad(const char* op, const Tensor& x, const Tensor& dy, Tensor& dw,
                          const ConvGeom& g);

// A scratch tensor on the GPU (from the caching allocator, so cheap once warm).
inline Tensor scratch(int64_t elems, DType dtype = DType::F32) {
  return Tensor::empty({elems}, dtype, Device::CUDA);
}

}  // namespace sire::cuda
