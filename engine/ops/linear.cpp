// Fully connected layer.
#include "engine/ops.h"
#include "engine/ops/check.h"
#include "engine/profile.h"

namespace sire::ops {
using namespace detail;

Variable linear(const Variable& x, const Variable& w, const Variable& bias) {
  const char* op = "linear";
  check_float_inputs(op, {&x, &w, &bias});
  check_rank(op, "input", x, 2);
  check_rank(op, "weight", w, 2);
  SIRE_CHECK(w.size(1) == x.size(1), op, ": input ", x.shape(), " has ", x.size(1),
             " features but weight ", w.shape(), " expects ", w.size(1));
  SIRE_CHECK(!bias.defined() || bias.shape() == Shape{w.size(0)}, op, ": bias ",
             bias.defined() ? to_string(bias.shape()) : "", " for weight ", w.shape());
  Tensor y = new_of(x.data(), {x.size(0), w.size(0)});
  const int64_t macs = x.size(0) * x.size(1) * w.size(0);
  profile::add_macs(macs);
  be(y).linear_forward(x.data(), w.data(), bias.defined() ? &bias.data() : nullptr, y);
  return record(op, y, inputs_of({x, w, bias}),
                [xt = x.data(), wt = w.data(), macs](const Tensor& gy, std::vector<Tensor>& grads,
                                                     const std::vector<bool>& needed) {
                  profile::add_macs(macs * (needed[0] + needed[1]));
                  if (needed[0]) grads[0] = like(xt);
                  if (needed[1]) grads[1] = like(wt);
                  bool has_bias = needed.size() > 2 && needed[2];
                  if (has_bias) grads[2] = new_of(gy, {wt.size(0)});
                  be(gy).linear_backward(gy, xt, wt, needed[0] ? &grads[0] : nullptr,
                                         needed[1] ? &grads[1] : nullptr,
                                         has_bias ? &grads[2] : nullptr);
                });
}

}  // namespace sire::ops
