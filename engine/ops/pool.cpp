// max_pool2d, upsample_nearest2d and adaptive_avg_pool2d.
#include "engine/ops.h"
#include "engine/ops/check.h"

namespace sire::ops {
using namespace detail;

Variable max_pool2d(const Variable& x, int64_t kernel, int64_t stride, int64_t padding,
                    bool ceil_mode) {
  const char* op = "max_pool2d";
  check_float_inputs(op, {&x});
  check_rank(op, "input", x, 4);
  SIRE_CHECK(kernel >= 1 && stride >= 1 && padding >= 0 && 2 * padding <= kernel, op,
             ": kernel ", kernel, ", stride ", stride, ", padding ", padding,
             " (need padding <= kernel / 2)");
  PoolGeom g;
  g.N = x.size(0), g.C = x.size(1), g.H = x.size(2), g.W = x.size(3);
  g.kh = g.kw = kernel;
  g.sh = g.sw = stride;
  g.ph = g.pw = padding;
  SIRE_CHECK(g.H + 2 * padding >= kernel && g.W + 2 * padding >= kernel, op, ": kernel ", kernel,
             " larger than the padded input ", x.shape());
  g.P = pool_out_size(g.H, kernel, stride, padding, ceil_mode);
  g.Q = pool_out_size(g.W, kernel, stride, padding, ceil_mode);
  Tensor y = new_of(x.data(), {g.N, g.C, g.P, g.Q});
  Tensor indices = Tensor::empty(y.shape(), DType::I32, y.device());
  be(y).max_pool2d_forward(x.data(), y, indices, g);
  return record(op, y, {x},
                [g, indices, xshape = x.shape()](const Tensor& gy, std::vector<Tensor>& grads,
                                                 const std::vector<bool>&) {
                  grads[0] = new_of(gy, xshape);
                  be(gy).max_pool2d_backward(gy, indices, grads[0], g);
                });
}

namespace {

// upsample_nearest2d, + add when given.
Variable upsample_impl(const Variable& x, int64_t out_h, int64_t out_w, const Variable* add) {
  const char* op = add ? "upsample_nearest2d_add" : "upsample_nearest2d";
  check_float_inputs(op, {&x});
  check_rank(op, "input", x, 4);
  SIRE_CHECK(out_h >= 1 && out_w >= 1, op, ": output size ", out_h, "x", out_w, " for input ",
             x.shape());
  const Shape out{x.size(0), x.size(1), out_h, out_w};
  if (add) {
    check_float_inputs(op, {&x, add});
    SIRE_CHECK(add->shape() == out, op, ": input ", x.shape(), " and the tensor added ",
               add->shape(), " differ in batch or channels");
  }
  Tensor y = new_of(x.data(), out);
  be(y).upsample_nearest2d_forward(x.data(), y, add ? &add->data() : nullptr);
  std::vector<Variable> inputs{x};
  if (add) inputs.push_back(*add);
  return record(op, y, inputs,
                [xshape = x.shape()](const Tensor& gy, std::vector<Tensor>& grads,
                                     const std::vector<bool>& needed) {
                  if (needed[0]) {
                    grads[0] = new_of(gy, xshape);
                    be(gy).upsample_nearest2d_backward(gy, grads[0]);
                  }
                  if (needed.size() > 1 && needed[1]) grads[1] = gy;  // the added tensor's
                });
}

Shape scaled(const char* op, const Variable& x, int64_t scale) {
  SIRE_CHECK(scale >= 1, op, ": scale ", scale, " for input ", x.shape());
  check_rank(op, "input", x, 4);
  return {x.size(2) * scale, x.size(3) * scale};
}

}  // namespace

Variable upsample_nearest2d(const Variable& x, int64_t out_h, int64_t out_w) {
  return upsample_impl(x, out_h, out_w, nullptr);
}

Variable upsample_nearest2d(const Variable& x, int64_t scale) {
  const Shape s = scaled("upsample_nearest2d", x, scale);
  return upsample_impl(x, s[0], s[1], nullptr);
}

Variable upsample_nearest2d_add(const Variable& x, const Variable& add) {
  check_rank("upsample_nearest2d_add", "added tensor", add, 4);
  return upsample_impl(x, add.size(2), add.size(3), &add);
}

Variable adaptive_avg_pool2d(const Variable& x, int64_t out_h, int64_t out_w) {
  const char* op = "adaptive_avg_pool2d";
  check_float_inputs(op, {&x});
  check_rank(op, "input", x, 4);
  SIRE_CHECK(out_h >= 1 && out_w >= 1, op, ": output size ", out_h, "x", out_w, " for input ",
             x.shape());
  Tensor y = new_of(x.data(), {x.size(0), x.size(1), out_h, out_w});
  be(y).adaptive_avg_pool2d_forward(x.data(), y);
  return record(op, y, {x},
                [xshape = x.shape()](const Tensor& gy, std::vector<Tensor>& grads,
                                     const std::vector<bool>&) {
                  grads[0] = new_of(gy, xshape);
                  be(gy).adaptive_avg_pool2d_backward(gy, grads[0]);
                });
}

}  // namespace sire::ops
