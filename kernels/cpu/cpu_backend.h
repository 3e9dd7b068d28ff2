// The CPU backend: the reference that every other backend is checked against, and fast in its
// own right (im2col + OpenBLAS GEMM for convolutions and dense layers, OpenMP for the rest).
// Kernels are templates over float and double; the double versions serve gradient checks.
#pragma once

#include "engine/backend.h"

namespace sire::cpu {

class CpuBackend final : public Backend {
 public:
  Device device() const override { return Device::CPU; }

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

  void batch_norm_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                Tensor& y, Tensor& mean, Tensor& invstd, Tensor* running_mean,
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
};

// Scratch memory for im2col and packing: one growing buffer per thread and slot, counted in the
// CPU memory statistics like any tensor.
void* workspace(int slot, size_t bytes);

}  // namespace sire::cpu
