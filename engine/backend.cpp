#include "engine/backend.h"

#ifdef SIRE_WITH_CUDA
#include "kernels/cuda/runtime.h"
#endif

namespace sire {

#ifndef SIRE_WITH_CUDA
Backend* cuda_backend() { return nullptr; }

// Without the CUDA backend nothing multiplies on a GPU: FP32 is all there is.
void set_gpu_math(GpuMath math) {
  SIRE_CHECK(math == GpuMath::kFP32, "GPU math ", gpu_math_name(math),
             ": this build has no CUDA backend (configure with -DSIRE_CUDA=ON)");
}
GpuMath gpu_math() { return GpuMath::kFP32; }
#else
void set_gpu_math(GpuMath math) { cuda::set_math(math); }
GpuMath gpu_math() { return cuda::math(); }
#endif

Backend& backend_for(Device device) {
  if (device == Device::CPU) return cpu_backend();
  Backend* cuda = cuda_backend();
  SIRE_CHECK(cuda != nullptr,
#ifdef SIRE_WITH_CUDA
             "a tensor is on the GPU but no CUDA device is present"
#else
             "a tensor is on the GPU but this build has no CUDA backend (configure with "
             "-DSIRE_CUDA=ON)"
#endif
  );
  return *cuda;
}

bool cuda_available() { return cuda_backend() != nullptr; }

void Backend::add_n(const std::vector<const Tensor*>& xs, Tensor& y) {
  SIRE_CHECK(xs.size() >= 2, "add_n: ", xs.size(), " tensors to sum");
  add(*xs[0], *xs[1], y);
  for (size_t i = 2; i < xs.size(); ++i) add(y, *xs[i], y);
}

BnAdd Backend::widened(const BnAdd& add, const Tensor& x, Tensor& holder) {
  if (!add.tensor || add.tensor->size(1) == x.size(1)) return add;
  SIRE_CHECK(add.before_relu && add.tensor->size(1) < x.size(1) &&
                 add.tensor->numel() / add.tensor->size(1) == x.numel() / x.size(1),
             "batch_norm_add_relu: the tensor added ", add.tensor->describe(), " for input ",
             x.describe());
  holder = Tensor::zeros(x.shape(), x.dtype(), x.device());
  channel_copy(*add.tensor, 0, holder, 0, add.tensor->size(1));
  return BnAdd{&holder, true};
}

void Backend::batch_norm_relu_forward_train(const Tensor& x, const Tensor& gamma,
                                            const Tensor& beta, Tensor& y, Tensor& mean,
                                            Tensor& invstd, Tensor* running_mean,
                                            Tensor* running_var, double momentum, double eps,
                                            const BnAdd& given) {
  Tensor holder;
  const BnAdd add = widened(given, x, holder);
  batch_norm_forward_train(x, gamma, beta, y, mean, invstd, running_mean, running_var, momentum, eps);
  if (add.tensor && add.before_relu) this->add(y, *add.tensor, y);
  relu_forward(y, y);
  if (add.tensor && !add.before_relu) this->add(y, *add.tensor, y);
}

void Backend::batch_norm_relu_forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                           const Tensor& running_mean, const Tensor& running_var,
                                           double eps, Tensor& y, Tensor& mean, Tensor& invstd,
                                           const BnAdd& given) {
  Tensor holder;
  const BnAdd add = widened(given, x, holder);
  batch_norm_forward_eval(x, gamma, beta, running_mean, running_var, eps, y, mean, invstd);
  if (add.tensor && add.before_relu) this->add(y, *add.tensor, y);
  relu_forward(y, y);
  if (add.tensor && !add.before_relu) this->add(y, *add.tensor, y);
}

void Backend::batch_norm_add_relu_backward(const Tensor& dy, const Tensor& y, const Tensor& x,
                                           const Tensor& gamma, const Tensor& mean,
                                           const Tensor& invstd, bool training, Tensor* dx,
                                           Tensor* dgamma, Tensor* dbeta, Tensor* dadd) {
  // The masked gradient goes straight into dadd when that has every channel.
  const bool whole = dadd && dadd->size(1) == x.size(1);
  Tensor g = whole ? *dadd : Tensor::empty(dy.shape(), dy.dtype(), dy.device());
  relu_backward(y, dy, g);
  batch_norm_backward(g, x, gamma, mean, invstd, training, dx, dgamma, dbeta);
  if (dadd && !whole) channel_copy(g, 0, *dadd, 0, dadd->size(1));
}

void Backend::sgd_update_all(const std::vector<SgdParam>& params, const SgdStep& step) {
  for (const SgdParam& p : params) {
    SgdStep st = step;
    st.first = p.first;
    sgd_update(*p.param, *p.grad, p.momentum_buffer, st);
  }
}

void Backend::sum_abs(const Tensor& x, Tensor& out) {
  Tensor host = x.to(Device::CPU);
  Tensor r = Tensor::empty({}, x.dtype(), Device::CPU);
  cpu_backend().sum_abs(host, r);
  out.copy_from(r.to(out.device()));
}

void Backend::sum_squares(const Tensor& x, Tensor& out) {
  Tensor host = x.to(Device::CPU);
  Tensor r = Tensor::empty({}, x.dtype(), Device::CPU);
  cpu_backend().sum_squares(host, r);
  out.copy_from(r.to(out.device()));
}

}  // namespace sire
