// Batch normalization. The closure keeps the mean and 1/std the forward pass normalized with,
// so its backward needs no second pass over the statistics.
#include "engine/ops.h"
#include "engine/ops/check.h"

namespace sire::ops {
using namespace detail;

namespace {

// batch_norm, with `add` (only with the fused ReLU) summed into the output when given, after the
// ReLU or before it.
Variable batch_norm_impl(const Variable& x, const Variable& gamma, const Variable& beta,
                         Tensor* running_mean, Tensor* running_var, bool training, double momentum,
                         double eps, bool relu, const Variable* add, bool add_before_relu) {
  const char* op = !add              ? (relu ? "batch_norm_relu" : "batch_norm")
                   : add_before_relu ? "batch_norm_add_relu"
                                     : "batch_norm_relu_add";
  check_float_inputs(op, {&x, &gamma, &beta});
  if (add) {
    check_float_inputs(op, {&x, add});
    // A residual may lack x's last channels (zeros); a skip connection has them all.
    Shape widened = add->shape();
    if (add_before_relu && widened.size() >= 2 && x.data().ndim() >= 2 && widened[1] <= x.size(1))
      widened[1] = x.size(1);
    SIRE_CHECK(widened == x.shape(), op, ": input ", x.shape(), " and the tensor added ",
               add->shape(), " differ in shape",
               add_before_relu ? " (the tensor added may have fewer channels)" : "");
  }
  SIRE_CHECK(x.data().ndim() >= 2, op, ": input ", x.shape(), " has no channel dimension");
  const int64_t C = x.size(1);
  SIRE_CHECK(gamma.shape() == Shape{C} && beta.shape() == Shape{C}, op, ": input ", x.shape(),
             " has ", C, " channels but weight ", gamma.shape(), " and bias ", beta.shape());
  for (Tensor* r : {running_mean, running_var})
    SIRE_CHECK(!r || (r->shape() == Shape{C} && r->dtype() == x.dtype() &&
                      r->device() == x.device()),
               op, ": running statistic ", r->describe(), " for input ", x.data().describe());
  const BnAdd extra{add ? &add->data() : nullptr, add_before_relu};
  Tensor y = like(x.data());
  Tensor mean = new_of(x.data(), {C}), invstd = new_of(x.data(), {C});
  if (training) {
    SIRE_CHECK(x.data().numel() / C > 1, op, ": training needs more than one value per channel, "
               "got input ", x.shape());
    if (relu) {
      be(y).batch_norm_relu_forward_train(x.data(), gamma.data(), beta.data(), y, mean, invstd,
                                          running_mean, running_var, momentum, eps, extra);
    } else {
      be(y).batch_norm_forward_train(x.data(), gamma.data(), beta.data(), y, mean, invstd,
                                     running_mean, running_var, momentum, eps);
    }
  } else {
    SIRE_CHECK(running_mean && running_var, op, ": evaluation mode needs running statistics");
    if (relu) {
      be(y).batch_norm_relu_forward_eval(x.data(), gamma.data(), beta.data(), *running_mean,
                                         *running_var, eps, y, mean, invstd, extra);
    } else {
      be(y).batch_norm_forward_eval(x.data(), gamma.data(), beta.data(), *running_mean,
                                    *running_var, eps, y, mean, invstd);
    }
  }
  // A fused ReLU's backward recomputes where the output is zero (the gradient stops there) from
  // x and beta, rather than keep and read the output; with a residual summed before the ReLU,
  // the zeros depend on it too, and the output is kept instead (its ReLU's mask).
  Tensor bt = relu && !(add && add_before_relu) ? beta.data() : Tensor();
  Tensor yt = add && add_before_relu ? y : Tensor();
  std::vector<Variable> inputs{x, gamma, beta};
  if (add) inputs.push_back(*add);
  return record(op, y, inputs,
                [xt = x.data(), gt = gamma.data(), mean, invstd, training, bt, yt,
                 add_shape = add ? add->shape() : Shape{}](
                    const Tensor& gy, std::vector<Tensor>& grads, const std::vector<bool>& needed) {
                  for (int i = 0; i < 3; ++i)
                    if (needed[i]) grads[i] = like(i == 0 ? xt : gt);
                  Tensor* g0 = needed[0] ? &grads[0] : nullptr;
                  Tensor* g1 = needed[1] ? &grads[1] : nullptr;
                  Tensor* g2 = needed[2] ? &grads[2] : nullptr;
                  if (yt.defined()) {  // a residual: the masked gradient is also the residual's
                    Tensor* g3 = nullptr;
                    if (needed[3]) g3 = &(grads[3] = new_of(gy, add_shape));
                    be(gy).batch_norm_add_relu_backward(gy, yt, xt, gt, mean, invstd, training, g0,
                                                        g1, g2, g3);
                    return;
                  }
                  const Tensor& g = gy;  // the gradient of y (a skip connection's too)
                  if (bt.defined()) {
                    be(g).batch_norm_relu_backward(g, xt, gt, bt, mean, invstd, training, g0, g1,
                                                   g2);
                  } else {
                    be(g).batch_norm_backward(g, xt, gt, mean, invstd, training, g0, g1, g2);
                  }
                  if (needed.size() > 3 && needed[3]) grads[3] = g;  // the added tensor's
                });
}

}  // namespace

Variable batch_norm(const Variable& x, const Variable& gamma, const Variable& beta,
                    Tensor* running_mean, Tensor* running_var, bool training, double momentum,
                    double eps, bool relu) {
  return batch_norm_impl(x, gamma, beta, running_mean, running_var, training, momentum, eps, relu,
                         nullptr, false);
}

Variable batch_norm_relu_add(const Variable& x, const Variable& gamma, const Variable& beta,
                             Tensor* running_mean, Tensor* running_var, bool training,
                             double momentum, double eps, const Variable& add) {
  return batch_norm_impl(x, gamma, beta, running_mean, running_var, training, momentum, eps, true,
                         &add, false);
}

Variable batch_norm_add_relu(const Variable& x, const Variable& gamma, const Variable& beta,
                             Tensor* running_mean, Tensor* running_var, bool training,
                             double momentum, double eps, const Variable& add) {
  return batch_norm_impl(x, gamma, beta, running_mean, running_var, training, momentum, eps, true,
                         &add, true);
}

}  // namespace sire::ops
