// conv2d and conv_transpose2d. A transposed convolution is the gradient of a convolution with
// respect to its input, so both ops run on the same three kernels with their roles swapped
// (forward <-> backward-data), as Caffe's deconvolution layer does.
#include "engine/ops.h"
#include "engine/ops/check.h"
#include "engine/profile.h"

namespace sire::ops {
using namespace detail;

Variable conv2d(const Variable& x, const Variable& w, const Variable& bias, int64_t stride,
                int64_t padding) {
  const char* op = "conv2d";
  check_float_inputs(op, {&x, &w, &bias});
  check_rank(op, "input", x, 4);
  check_rank(op, "weight", w, 4);
  SIRE_CHECK(stride >= 1 && padding >= 0, op, ": stride ", stride, " and padding ", padding,
             " must be >= 1 and >= 0");
  SIRE_CHECK(w.size(1) == x.size(1), op, ": input ", x.shape(), " has ", x.size(1),
             " channels but weight ", w.shape(), " expects ", w.size(1));
  SIRE_CHECK(!bias.defined() || bias.shape() == Shape{w.size(0)}, op, ": bias ",
             bias.defined() ? to_string(bias.shape()) : "", " for weight ", w.shape());
  ConvGeom g;
  g.N = x.size(0), g.C = x.size(1), g.H = x.size(2), g.W = x.size(3);
  g.K = w.size(0), g.R = w.size(2), g.S = w.size(3);
  g.stride_h = g.stride_w = stride;
  g.pad_h = g.pad_w = padding;
  SIRE_CHECK(g.H + 2 * padding >= g.R && g.W + 2 * padding >= g.S, op, ": kernel ", w.shape(),
             " larger than the padded input ", x.shape(), " (padding ", padding, ")");
  g.P = conv_out_size(g.H, g.R, stride, padding);
  g.Q = conv_out_size(g.W, g.S, stride, padding);

  Tensor y = new_of(x.data(), {g.N, g.K, g.P, g.Q});
  profile::add_macs(g.macs());
  be(y).conv2d_forward(x.data(), w.data(), bias.defined() ? &bias.data() : nullptr, y, g);
  return record(op, y, inputs_of({x, w, bias}),
                [g, xt = x.data(), wt = w.data()](const Tensor& gy, std::vector<Tensor>& grads,
                                                  const std::vector<bool>& needed) {
                  Backend& b = be(gy);
                  if (needed[0]) {
                    grads[0] = like(xt);
                    profile::add_macs(g.macs());
                    b.conv2d_backward_data(gy, wt, grads[0], g);
                  }
                  if (needed[1]) {
                    grads[1] = like(wt);
                    profile::add_macs(g.macs());
                    b.conv2d_backward_weight(xt, gy, grads[1], g);
                  }
                  if (needed.size() > 2 && needed[2]) {
                    grads[2] = new_of(gy, {g.K});
                    b.channel_sum(gy, grads[2]);
                  }
                });
}

Variable conv_transpose2d(const Variable& x, const Variable& w, const Variable& bias,
                          int64_t stride, int64_t padding, int64_t output_padding) {
  const char* op = "conv_transpose2d";
  check_float_inputs(op, {&x, &w, &bias});
  check_rank(op, "input", x, 4);
  check_rank(op, "weight", w, 4);
  SIRE_CHECK(stride >= 1 && padding >= 0 && output_padding >= 0 && output_padding < stride, op,
             ": stride ", stride, ", padding ", padding, ", output_padding ", output_padding,
             " (need stride >= 1, padding >= 0, 0 <= output_padding < stride)");
  SIRE_CHECK(w.size(0) == x.size(1), op, ": input ", x.shape(), " has ", x.size(1),
             " channels but weight ", w.shape(), " expects ", w.size(0));
  SIRE_CHECK(!bias.defined() || bias.shape() == Shape{w.size(1)}, op, ": bias ",
             bias.defined() ? to_string(bias.shape()) : "", " for weight ", w.shape());
  // The convolution this is the transpose of: its input is our output.
  ConvGeom g;
  g.N = x.size(0), g.K = x.size(1), g.P = x.size(2), g.Q = x.size(3);
  g.C = w.size(1), g.R = w.size(2), g.S = w.size(3);
  g.stride_h = g.stride_w = stride;
  g.pad_h = g.pad_w = padding;
  g.H = conv_transpose_out_size(g.P, g.R, stride, padding, output_padding);
  g.W = conv_transpose_out_size(g.Q, g.S, stride, padding, output_padding);
  SIRE_CHECK(g.H > 0 && g.W > 0, op, ": input ", x.shape(), " with weight ", w.shape(),
             ", stride ", stride, ", padding ", padding, " gives an empty output");

  Tensor y = new_of(x.data(), {g.N, g.C, g.H, g.W});
  profile::add_macs(g.macs());
  be(y).conv2d_backward_data(x.data(), w.data(), y, g);
  if (bias.defined()) be(y).bias_add(y, bias.data());
  return record(op, y, inputs_of({x, w, bias}),
                [g, xt = x.data(), wt = w.data()](const Tensor& gy, std::vector<Tensor>& grads,
                                                  const std::vector<bool>& needed) {
                  Backend& b = be(gy);
                  if (needed[0]) {
                    grads[0] = like(xt);
                    profile::add_macs(g.macs());
                    b.conv2d_forward(gy, wt, nullptr, grads[0], g);
                  }
                  if (needed[1]) {
                    grads[1] = like(wt);
                    profile::add_macs(g.macs());
                    b.conv2d_backward_weight(gy, xt, grads[1], g);
                  }
                  if (needed.size() > 2 && needed[2]) {
                    grads[2] = new_of(gy, {g.C});
                    b.channel_sum(gy, grads[2]);
                  }
                });
}

}  // namespace sire::ops
