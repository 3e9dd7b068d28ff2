// relu, dropout, add, scale, channel padding and concatenation, reshape.
#include "engine/ops.h"
#include "engine/ops/check.h"

namespace sire::ops {
using namespace detail;

Variable relu(const Variable& x) {
  check_float_inputs("relu", {&x});
  Tensor y = like(x.data());
  be(y).relu_forward(x.data(), y);
  // The output alone tells where the input was positive: no need to keep the input.
  return record("relu", y, {x},
                [y](const Tensor& gy, std::vector<Tensor>& grads, const std::vector<bool>&) {
                  grads[0] = like(gy);
                  be(gy).relu_backward(y, gy, grads[0]);
                });
}

Variable dropout(const Variable& x, double p, bool training, uint64_t seed, uint64_t stream) {
  check_float_inputs("dropout", {&x});
  SIRE_CHECK(p >= 0.0 && p <= 1.0, "dropout: probability ", p, " outside [0, 1]");
  if (!training || p == 0.0) return x;
  Tensor y = like(x.data());
  be(y).dropout_forward(x.data(), y, p, seed, stream);
  // The mask is regenerated from (seed, stream) in the backward pass instead of being stored.
  return record("dropout", y, {x},
                [p, seed, stream](const Tensor& gy, std::vector<Tensor>& grads,
                                  const std::vector<bool>&) {
                  grads[0] = like(gy);
                  be(gy).dropout_backward(gy, grads[0], p, seed, stream);
                });
}

Variable add(const Variable& a, const Variable& b) {
  check_float_inputs("add", {&a, &b});
  SIRE_CHECK(a.shape() == b.shape(), "add: shapes ", a.shape(), " and ", b.shape(), " differ");
  Tensor y = like(a.data());
  be(y).add(a.data(), b.data(), y);
  return record("add", y, {a, b},
                [](const Tensor& gy, std::vector<Tensor>& grads, const std::vector<bool>&) {
                  grads[0] = gy;  // shared: gradients are never modified in place
                  grads[1] = gy;
                });
}

Variable scale(const Variable& x, double alpha) {
  check_float_inputs("scale", {&x});
  Tensor y = like(x.data());
  be(y).scale(x.data(), alpha, y);
  return record("scale", y, {x},
                [alpha](const Tensor& gy, std::vector<Tensor>& grads, const std::vector<bool>&) {
                  grads[0] = like(gy);
                  be(gy).scale(gy, alpha, grads[0]);
                });
}

Variable pad_channels(const Variable& x, int64_t before, int64_t after) {
  const char* op = "pad_channels";
  check_float_inputs(op, {&x});
  SIRE_CHECK(x.data().ndim() >= 2 && before >= 0 && after >= 0, op, ": input ", x.shape(),
             ", before ", before, ", after ", after);
  Shape s = x.shape();
  const int64_t C = s[1];
  s[1] = before + C + after;
  Tensor y = new_of(x.data(), s);
  y.zero_();
  be(y).channel_copy(x.data(), 0, y, before, C);
  return record(op, y, {x},
                [xshape = x.shape(), before, C](const Tensor& gy, std::vector<Tensor>& grads,
                                                const std::vector<bool>&) {
                  grads[0] = new_of(gy, xshape);
                  be(gy).channel_copy(gy, before, grads[0], 0, C);
                });
}

Variable concat_channels(const std::vector<Variable>& xs) {
  const char* op = "concat_channels";
  SIRE_CHECK(!xs.empty(), op, ": no inputs");
  Shape s = xs[0].shape();
  SIRE_CHECK(s.size() >= 2, op, ": input ", s, " has no channel dimension");
  int64_t total = 0;
  for (const Variable& x : xs) {
    check_float_inputs(op, {&xs[0], &x});
    Shape t = x.shape();
    SIRE_CHECK(t.size() == s.size(), op, ": inputs ", s, " and ", t, " differ in rank");
    t[1] = s[1];
    SIRE_CHECK(t == s, op, ": inputs ", s, " and ", x.shape(), " differ outside dimension 1");
    total += x.size(1);
  }
  s[1] = total;
  Tensor y = new_of(xs[0].data(), s);
  std::vector<int64_t> offsets;
  int64_t c0 = 0;
  for (const Variable& x : xs) {
    be(y).channel_copy(x.data(), 0, y, c0, x.size(1));
    offsets.push_back(c0);
    c0 += x.size(1);
  }
  std::vector<Shape> shapes;
  for (const Variable& x : xs) shapes.push_back(x.shape());
  return record(op, y, xs,
                [offsets, shapes](const Tensor& gy, std::vector<Tensor>& grads,
                                  const std::vector<bool>& needed) {
                  for (size_t i = 0; i < shapes.size(); ++i) {
                    if (!needed[i]) continue;
                    grads[i] = new_of(gy, shapes[i]);
                    be(gy).channel_copy(gy, offsets[i], grads[i], 0, shapes[i][1]);
                  }
                });
}

Variable slice_channels(const Variable& x, int64_t begin, int64_t count) {
  const char* op = "slice_channels";
  check_float_inputs(op, {&x});
  SIRE_CHECK(x.data().ndim() >= 2 && begin >= 0 && count > 0 && begin + count <= x.size(1), op,
             ": channels [", begin, ", ", begin + count, ") of input ", x.shape());
  Shape s = x.shape();
  s[1] = count;
  Tensor y = new_of(x.data(), s);
  be(y).channel_copy(x.data(), begin, y, 0, count);
  return record(op, y, {x},
                [xshape = x.shape(), begin, count](const Tensor& gy, std::vector<Tensor>& grads,
                                                   const std::vector<bool>&) {
                  grads[0] = new_of(gy, xshape);
                  grads[0].zero_();
                  be(gy).channel_copy(gy, 0, grads[0], begin, count);
                });
}

Variable reshape(const Variable& x, const Shape& shape) {
  Tensor y = x.data().reshape(shape);
  return record("reshape", y, {x},
                [xshape = x.shape()](const Tensor& gy, std::vector<Tensor>& grads,
                                     const std::vector<bool>&) { grads[0] = gy.reshape(xshape); });
}

Variable flatten(const Variable& x) {
  SIRE_CHECK(x.data().ndim() >= 1, "flatten: input has no batch dimension");
  return reshape(x, {x.size(0), -1});
}

}  // namespace sire::ops
