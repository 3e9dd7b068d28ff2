// Losses and reductions. Their outputs are 0-dimensional (one element); their backward kernels
// read the upstream gradient on the device.
#include "engine/ops.h"
#include "engine/ops/check.h"

namespace sire::ops {
using namespace detail;

Variable cross_entropy(const Variable& logits, const Tensor& labels) {
  const char* op = "cross_entropy";
  check_float_inputs(op, {&logits});
  check_rank(op, "logits", logits, 2);
  SIRE_CHECK(labels.dtype() == DType::I32 && labels.shape() == Shape{logits.size(0)} &&
                 labels.device() == logits.device(),
             op, ": labels ", labels.describe(), " for logits ", logits.data().describe(),
             " (need i32 [N] on the same device)");
  Tensor loss = new_of(logits.data(), {});
  be(loss).softmax_cross_entropy_forward(logits.data(), labels, loss);
  return record(op, loss, {logits},
                [lt = logits.data(), labels](const Tensor& g, std::vector<Tensor>& grads,
                                             const std::vector<bool>&) {
                  grads[0] = like(lt);
                  be(g).softmax_cross_entropy_backward(lt, labels, g, grads[0]);
                });
}

Variable mse_loss(const Variable& a, const Variable& b) {
  const char* op = "mse_loss";
  check_float_inputs(op, {&a, &b});
  SIRE_CHECK(a.shape() == b.shape(), op, ": shapes ", a.shape(), " and ", b.shape(), " differ");
  Tensor loss = new_of(a.data(), {});
  be(loss).mse_forward(a.data(), b.data(), loss);
  return record(op, loss, {a, b},
                [at = a.data(), bt = b.data()](const Tensor& g, std::vector<Tensor>& grads,
                                               const std::vector<bool>& needed) {
                  if (needed[0]) grads[0] = like(at);
                  if (needed[1]) grads[1] = like(bt);
                  be(g).mse_backward(at, bt, g, needed[0] ? &grads[0] : nullptr,
                                     needed[1] ? &grads[1] : nullptr);
                });
}

namespace {
Variable reduce(const char* op, const Variable& x, double alpha) {
  check_float_inputs(op, {&x});
  SIRE_CHECK(x.data().numel() > 0, op, ": empty input ", x.shape());
  Tensor out = new_of(x.data(), {});
  be(out).sum(x.data(), out);
  if (alpha != 1.0) be(out).scale(out, alpha, out);
  return record(op, out, {x},
                [xshape = x.shape(), alpha](const Tensor& g, std::vector<Tensor>& grads,
                                            const std::vector<bool>&) {
                  grads[0] = new_of(g, xshape);
                  be(g).broadcast_scalar(g, alpha, grads[0]);
                });
}
}  // namespace

Variable sum(const Variable& x) { return reduce("sum", x, 1.0); }
Variable mean(const Variable& x) {
  return reduce("mean", x, 1.0 / static_cast<double>(x.data().numel()));
}

}  // namespace sire::ops
