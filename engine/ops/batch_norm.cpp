// Batch normalization. The closure keeps the mean and 1/std the forward pass normalized with,
// so its backward needs no second pass over the statistics.
#include "engine/ops.h"
#include "engine/ops/check.h"

namespace sire::ops {
using namespace detail;

Variable batch_norm(const Variable& x, const Variable& gamma, const Variable& beta,
                    Tensor* running_mean, Tensor* running_var, bool training, double momentum,
                    double eps) {
  const char* op = "batch_norm";
  check_float_inputs(op, {&x, &gamma, &beta});
  SIRE_CHECK(x.data().ndim() >= 2, op, ": input ", x.shape(), " has no channel dimension");
  const int64_t C = x.size(1);
  SIRE_CHECK(gamma.shape() == Shape{C} && beta.shape() == Shape{C}, op, ": input ", x.shape(),
             " has ", C, " channels but weight ", gamma.shape(), " and bias ", beta.shape());
  for (Tensor* r : {running_mean, running_var})
    SIRE_CHECK(!r || (r->shape() == Shape{C} && r->dtype() == x.dtype() &&
                      r->device() == x.device()),
               op, ": running statistic ", r->describe(), " for input ", x.data().describe());
  Tensor y = like(x.data());
  Tensor mean = new_of(x.data(), {C}), invstd = new_of(x.data(), {C});
  if (training) {
    SIRE_CHECK(x.data().numel() / C > 1, op, ": training needs more than one value per channel, "
               "got input ", x.shape());
    be(y).batch_norm_forward_train(x.data(), gamma.data(), beta.data(), y, mean, invstd,
                                   running_mean, running_var, momentum, eps);
  } else {
    SIRE_CHECK(running_mean && running_var, op, ": evaluation mode needs running statistics");
    be(y).batch_norm_forward_eval(x.data(), gamma.data(), beta.data(), *running_mean,
                                  *running_var, eps, y, mean, invstd);
  }
  return record(op, y, {x, gamma, beta},
                [xt = x.data(), gt = gamma.data(), mean, invstd, training](
                    const Tensor& gy, std::vector<Tensor>& grads, const std::vector<bool>& needed) {
                  for (int i = 0; i < 3; ++i)
                    if (needed[i]) grads[i] = like(i == 0 ? xt : gt);
                  be(gy).batch_norm_backward(gy, xt, gt, mean, invstd, training,
                                             needed[0] ? &grads[0] : nullptr,
                                             needed[1] ? &grads[1] : nullptr,
                                             needed[2] ? &grads[2] : nullptr);
                });
}

}  // namespace sire::ops
