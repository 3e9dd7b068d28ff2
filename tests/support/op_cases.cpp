#include "tests/support/op_cases.h"

#include "engine/random.h"

namespace sire::testing {

Tensor random_tensor(const Shape& shape, DType dtype, uint64_t seed, double scale) {
  Tensor t = Tensor::empty(shape, dtype);
  Generator g(seed);
  g.fill_normal(t, 0.0, scale);
  return t;
}

namespace {

using Vars = std::vector<Variable>;

struct Builder {
  DType dtype;
  uint64_t seed;
  std::vector<OpCase> cases;

  Tensor rnd(const Shape& s, double scale = 1.0) { return random_tensor(s, dtype, seed++, scale); }
  // Values with distinct magnitudes and signs: no ties for max-pool, none near relu's kink.
  Tensor spread(const Shape& s) {
    const int64_t n = numel(s);
    Generator g(seed++);
    std::vector<int64_t> perm = g.permutation(n);
    std::vector<double> v(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) v[i] = (static_cast<double>(perm[i]) - n / 2.0 + 0.5) / n * 4.0;
    return Tensor::from_vector(s, v, dtype);
  }
  void add(std::string name, std::vector<Tensor> inputs,
           std::function<Variable(const Vars&)> run, bool kinks = false) {
    cases.push_back(OpCase{std::move(name), std::move(inputs), std::move(run), kinks});
  }
  // A case too large for the finite-difference check.
  void add_large(std::string name, std::vector<Tensor> inputs,
                 std::function<Variable(const Vars&)> run, bool kinks = false) {
    add(std::move(name), std::move(inputs), std::move(run), kinks);
    cases.back().gradcheck = false;
  }
};

void conv_cases(Builder& b) {
  struct G { int64_t N, C, H, W, K, k, s, p; bool bias; };
  // Odd sizes, stride 2, padding 0/1/2, a pointwise conv, a 5x5 and an even kernel; the 32x32
  // ones run the one-sample-per-GEMM path, the others the grouped path.
  for (G g : {G{2, 3, 7, 7, 4, 3, 1, 1, true}, G{2, 3, 8, 9, 5, 3, 2, 0, true},
              G{1, 2, 6, 5, 3, 3, 2, 2, false}, G{3, 4, 5, 5, 2, 1, 1, 0, true},
              G{2, 3, 9, 7, 3, 5, 2, 2, true}, G{2, 3, 4, 4, 3, 2, 2, 1, false},
              G{1, 1, 3, 3, 2, 3, 1, 2, true}, G{2, 1, 32, 32, 2, 3, 1, 1, true},
              G{1, 2, 32, 32, 2, 1, 1, 0, false}, G{2, 16, 5, 5, 3, 3, 1, 1, true},
              G{2, 16, 4, 5, 2, 3, 1, 0, false}, G{1, 16, 6, 6, 2, 5, 1, 2, true}}) {
    std::vector<Tensor> in{b.rnd({g.N, g.C, g.H, g.W}), b.rnd({g.K, g.C, g.k, g.k}, 0.5)};
    if (g.bias) in.push_back(b.rnd({g.K}));
    b.add(str("conv2d N", g.N, " C", g.C, " ", g.H, "x", g.W, " K", g.K, " k", g.k, " s", g.s,
              " p", g.p, g.bias ? "" : " nobias"),
          in, [g](const Vars& v) {
            return ops::conv2d(v[0], v[1], g.bias ? v[2] : Variable(), g.s, g.p);
          });
  }
  // Batch 64 and batch 1 at sizes that span several GPU tiles (128 rows or columns), channel
  // counts that are not multiples of the 8-deep reduction step, and a deep reduction that the
  // GPU splits across blocks.
  for (G g : {G{64, 16, 8, 8, 24, 3, 1, 1, true}, G{1, 37, 9, 9, 130, 3, 1, 1, true},
              G{64, 3, 16, 16, 8, 3, 2, 1, false}, G{1, 200, 4, 4, 20, 3, 1, 1, true},
              G{64, 5, 6, 6, 3, 1, 1, 0, true}}) {
    std::vector<Tensor> in{b.rnd({g.N, g.C, g.H, g.W}), b.rnd({g.K, g.C, g.k, g.k}, 0.2)};
    if (g.bias) in.push_back(b.rnd({g.K}));
    b.add_large(str("conv2d N", g.N, " C", g.C, " ", g.H, "x", g.W, " K", g.K, " k", g.k, " s",
                    g.s, " p", g.p, g.bias ? "" : " nobias"),
                in, [g](const Vars& v) {
                  return ops::conv2d(v[0], v[1], g.bias ? v[2] : Variable(), g.s, g.p);
                });
  }
}

void conv_transpose_cases(Builder& b) {
  struct G { int64_t N, Ci, H, W, Co, k, s, p, op; bool bias; };
  for (G g : {G{2, 3, 4, 5, 2, 3, 1, 1, 0, true}, G{2, 2, 3, 3, 3, 3, 2, 1, 1, true},
              G{1, 3, 3, 4, 2, 3, 2, 0, 0, false}, G{2, 2, 4, 4, 3, 4, 2, 1, 0, true},
              G{1, 2, 3, 3, 2, 5, 2, 2, 1, true}, G{2, 3, 5, 5, 2, 1, 1, 0, 0, false},
              G{1, 2, 32, 32, 1, 3, 1, 1, 0, true}, G{2, 3, 4, 4, 16, 3, 1, 1, 0, true},
              G{1, 2, 4, 3, 16, 3, 1, 0, 0, false}, G{1, 2, 3, 3, 16, 5, 1, 2, 0, true}}) {
    std::vector<Tensor> in{b.rnd({g.N, g.Ci, g.H, g.W}), b.rnd({g.Ci, g.Co, g.k, g.k}, 0.5)};
    if (g.bias) in.push_back(b.rnd({g.Co}));
    b.add(str("conv_transpose2d N", g.N, " Ci", g.Ci, " ", g.H, "x", g.W, " Co", g.Co, " k", g.k,
              " s", g.s, " p", g.p, " op", g.op, g.bias ? "" : " nobias"),
          in, [g](const Vars& v) {
            return ops::conv_transpose2d(v[0], v[1], g.bias ? v[2] : Variable(), g.s, g.p, g.op);
          });
  }
  for (G g : {G{64, 16, 8, 8, 8, 3, 1, 1, 0, true}, G{1, 130, 5, 5, 20, 3, 2, 1, 1, true},
              G{64, 12, 4, 4, 3, 3, 1, 1, 0, false}}) {
    std::vector<Tensor> in{b.rnd({g.N, g.Ci, g.H, g.W}), b.rnd({g.Ci, g.Co, g.k, g.k}, 0.2)};
    if (g.bias) in.push_back(b.rnd({g.Co}));
    b.add_large(str("conv_transpose2d N", g.N, " Ci", g.Ci, " ", g.H, "x", g.W, " Co", g.Co,
                    " k", g.k, " s", g.s, " p", g.p, " op", g.op, g.bias ? "" : " nobias"),
                in, [g](const Vars& v) {
                  return ops::conv_transpose2d(v[0], v[1], g.bias ? v[2] : Variable(), g.s, g.p,
                                               g.op);
                });
  }
}

void pool_cases(Builder& b) {
  struct G { int64_t N, C, H, W, k, s, p; bool ceil; };
  for (G g : {G{2, 3, 8, 8, 2, 2, 0, false}, G{2, 2, 7, 7, 2, 2, 0, false},
              G{1, 2, 8, 8, 3, 2, 1, false}, G{2, 2, 7, 9, 3, 2, 1, true},
              G{1, 1, 5, 5, 2, 1, 0, false}, G{1, 2, 6, 6, 3, 2, 0, true}}) {
    b.add(str("max_pool2d N", g.N, " C", g.C, " ", g.H, "x", g.W, " k", g.k, " s", g.s, " p", g.p,
              g.ceil ? " ceil" : ""),
          {b.spread({g.N, g.C, g.H, g.W})},
          [g](const Vars& v) { return ops::max_pool2d(v[0], g.k, g.s, g.p, g.ceil); }, true);
  }
  b.add_large("max_pool2d N64 C8 16x16 k2 s2 p0", {b.spread({64, 8, 16, 16})},
              [](const Vars& v) { return ops::max_pool2d(v[0], 2, 2, 0, false); }, true);
  b.add_large("max_pool2d N1 C3 9x9 k3 s2 p1 ceil", {b.spread({1, 3, 9, 9})},
              [](const Vars& v) { return ops::max_pool2d(v[0], 3, 2, 1, true); }, true);
  struct U { int64_t N, C, H, W, OH, OW; };
  // 2x at an even width (the GPU's kernels by pairs) and an odd one (its general kernels).
  for (U u : {U{2, 3, 3, 4, 6, 8}, U{2, 2, 3, 5, 6, 10}, U{1, 2, 3, 3, 7, 5}, U{1, 2, 4, 4, 4, 4},
              U{2, 1, 5, 3, 2, 7}}) {
    b.add(str("upsample_nearest2d ", u.H, "x", u.W, " -> ", u.OH, "x", u.OW),
          {b.rnd({u.N, u.C, u.H, u.W})},
          [u](const Vars& v) { return ops::upsample_nearest2d(v[0], u.OH, u.OW); });
  }
  b.add_large("upsample_nearest2d N64 C8 8x8 -> 16x16", {b.rnd({64, 8, 8, 8})},
              [](const Vars& v) { return ops::upsample_nearest2d(v[0], 16, 16); });
  // Upsample + skip in one op: 2x (the vector path on the CPU; on the GPU 16-byte accesses at an
  // even width, the general kernels at an odd one) and other ratios (the tables).
  for (U u : {U{2, 3, 3, 4, 6, 8}, U{2, 2, 3, 5, 6, 10}, U{1, 2, 3, 3, 7, 5}, U{2, 1, 5, 3, 2, 7}}) {
    b.add(str("upsample_nearest2d_add ", u.H, "x", u.W, " -> ", u.OH, "x", u.OW),
          {b.rnd({u.N, u.C, u.H, u.W}), b.rnd({u.N, u.C, u.OH, u.OW})},
          [](const Vars& v) { return ops::upsample_nearest2d_add(v[0], v[1]); });
  }
  b.add_large("upsample_nearest2d_add N64 C8 8x8 -> 16x16",
              {b.rnd({64, 8, 8, 8}), b.rnd({64, 8, 16, 16})},
              [](const Vars& v) { return ops::upsample_nearest2d_add(v[0], v[1]); });
  for (U u : {U{2, 3, 5, 7, 2, 2}, U{1, 2, 4, 4, 3, 3}, U{1, 1, 6, 6, 1, 1}, U{2, 2, 3, 3, 5, 4}}) {
    b.add(str("adaptive_avg_pool2d ", u.H, "x", u.W, " -> ", u.OH, "x", u.OW),
          {b.rnd({u.N, u.C, u.H, u.W})},
          [u](const Vars& v) { return ops::adaptive_avg_pool2d(v[0], u.OH, u.OW); });
  }
}

void norm_and_dense_cases(Builder& b) {
  for (Shape s : {Shape{2, 3, 4, 5}, Shape{4, 2, 1, 1}, Shape{8, 5}, Shape{3, 4, 3, 3}}) {
    const int64_t C = s[1];
    b.add(str("batch_norm train ", s), {b.rnd(s), b.rnd({C}), b.rnd({C})}, [](const Vars& v) {
      return ops::batch_norm(v[0], v[1], v[2], nullptr, nullptr, true, 0.1, 1e-5);
    });
    Tensor rm = b.rnd({C}, 0.3), rv = random_tensor({C}, b.dtype, b.seed++, 0.2);
    std::vector<double> var = rv.to_vector();
    for (double& x : var) x = 0.5 + x * x;  // positive variances
    rv = Tensor::from_vector({C}, var, b.dtype);
    b.add(str("batch_norm_relu train ", s), {b.rnd(s), b.rnd({C}), b.rnd({C})}, [](const Vars& v) {
      return ops::batch_norm(v[0], v[1], v[2], nullptr, nullptr, true, 0.1, 1e-5, true);
    }, true);
    b.add(str("batch_norm eval ", s), {b.rnd(s), b.rnd({C}), b.rnd({C})},
          [rm, rv](const Vars& v) {
            Tensor m = rm.to(v[0].device()).clone(), r = rv.to(v[0].device()).clone();
            return ops::batch_norm(v[0], v[1], v[2], &m, &r, false, 0.1, 1e-5);
          });
    b.add(str("batch_norm_relu eval ", s), {b.rnd(s), b.rnd({C}), b.rnd({C})},
          [rm, rv](const Vars& v) {
            Tensor m = rm.to(v[0].device()).clone(), r = rv.to(v[0].device()).clone();
            return ops::batch_norm(v[0], v[1], v[2], &m, &r, false, 0.1, 1e-5, true);
          }, true);
    // With a tensor added after the ReLU (a skip connection) or before it (a residual).
    using Fused = Variable (*)(const Variable&, const Variable&, const Variable&, Tensor*, Tensor*,
                               bool, double, double, const Variable&);
    for (auto [name, op] :
         {std::pair<const char*, Fused>{"batch_norm_relu_add", ops::batch_norm_relu_add},
          std::pair<const char*, Fused>{"batch_norm_add_relu", ops::batch_norm_add_relu}}) {
      b.add(
          str(name, " train ", s), {b.rnd(s), b.rnd({C}), b.rnd({C}), b.rnd(s)},
          [op = op](const Vars& v) {
            return op(v[0], v[1], v[2], nullptr, nullptr, true, 0.1, 1e-5, v[3]);
          },
          true);
      b.add(
          str(name, " eval ", s), {b.rnd(s), b.rnd({C}), b.rnd({C}), b.rnd(s)},
          [op = op, rm, rv](const Vars& v) {
            Tensor m = rm.to(v[0].device()).clone(), r = rv.to(v[0].device()).clone();
            return op(v[0], v[1], v[2], &m, &r, false, 0.1, 1e-5, v[3]);
          },
          true);
    }
  }
  // A residual with fewer channels than the batch norm (a shortcut widened by zero channels):
  // 2 of 4, and one of 3 (every channel but the first takes nothing).
  for (auto [s, Cs] : {std::pair<Shape, int64_t>{Shape{2, 4, 3, 5}, 2},
                       std::pair<Shape, int64_t>{Shape{3, 3, 2, 2}, 1}}) {
    const int64_t C = s[1];
    Shape narrow = s;
    narrow[1] = Cs;
    b.add(
        str("batch_norm_add_relu train ", s, " + ", narrow),
        {b.rnd(s), b.rnd({C}), b.rnd({C}), b.rnd(narrow)},
        [](const Vars& v) {
          return ops::batch_norm_add_relu(v[0], v[1], v[2], nullptr, nullptr, true, 0.1, 1e-5,
                                          v[3]);
        },
        true);
    Tensor rm = b.rnd({C}, 0.3), rv = Tensor::full({C}, 0.7, b.dtype);
    b.add(
        str("batch_norm_add_relu eval ", s, " + ", narrow),
        {b.rnd(s), b.rnd({C}), b.rnd({C}), b.rnd(narrow)},
        [rm, rv](const Vars& v) {
          Tensor m = rm.to(v[0].device()).clone(), r = rv.to(v[0].device()).clone();
          return ops::batch_norm_add_relu(v[0], v[1], v[2], &m, &r, false, 0.1, 1e-5, v[3]);
        },
        true);
  }
  b.add_large("batch_norm train [64, 16, 8, 8]", {b.rnd({64, 16, 8, 8}), b.rnd({16}), b.rnd({16})},
              [](const Vars& v) {
                return ops::batch_norm(v[0], v[1], v[2], nullptr, nullptr, true, 0.1, 1e-5);
              });
  // 16384 values a channel: the CUDA backend's several-part path (4096 and fewer take one block
  // a channel).
  b.add_large("batch_norm_relu train [64, 8, 16, 16]",
              {b.rnd({64, 8, 16, 16}), b.rnd({8}), b.rnd({8})}, [](const Vars& v) {
                return ops::batch_norm(v[0], v[1], v[2], nullptr, nullptr, true, 0.1, 1e-5, true);
              });
  b.add_large(
      "batch_norm_relu_add train [64, 8, 16, 16]",
      {b.rnd({64, 8, 16, 16}), b.rnd({8}), b.rnd({8}), b.rnd({64, 8, 16, 16})}, [](const Vars& v) {
        return ops::batch_norm_relu_add(v[0], v[1], v[2], nullptr, nullptr, true, 0.1, 1e-5, v[3]);
      });
  b.add_large(
      "batch_norm_add_relu train [64, 8, 16, 16] + [64, 3, 16, 16]",
      {b.rnd({64, 8, 16, 16}), b.rnd({8}), b.rnd({8}), b.rnd({64, 3, 16, 16})}, [](const Vars& v) {
        return ops::batch_norm_add_relu(v[0], v[1], v[2], nullptr, nullptr, true, 0.1, 1e-5, v[3]);
      });
  b.add_large(
      "batch_norm_add_relu train [64, 8, 16, 16]",
      {b.rnd({64, 8, 16, 16}), b.rnd({8}), b.rnd({8}), b.rnd({64, 8, 16, 16})}, [](const Vars& v) {
        return ops::batch_norm_add_relu(v[0], v[1], v[2], nullptr, nullptr, true, 0.1, 1e-5, v[3]);
      });
  // 4107 values a channel in planes of 1369: the several-part path with uneven parts (2054 and
  // 2053) and the one-float-at-a-time passes (a plane not a multiple of 4), in training (with and
  // without ReLU) and in eval.
  {
    const Shape s{3, 5, 37, 37};
    b.add_large(str("batch_norm train ", s), {b.rnd(s), b.rnd({5}), b.rnd({5})}, [](const Vars& v) {
      return ops::batch_norm(v[0], v[1], v[2], nullptr, nullptr, true, 0.1, 1e-5);
    });
    b.add_large(
        str("batch_norm_relu train ", s), {b.rnd(s), b.rnd({5}), b.rnd({5})},
        [](const Vars& v) {
          return ops::batch_norm(v[0], v[1], v[2], nullptr, nullptr, true, 0.1, 1e-5, true);
        },
        true);
    Tensor rm = b.rnd({5}, 0.3);
    Tensor rv = Tensor::from_vector({5}, {0.5, 1.2, 0.8, 2.0, 0.7}, b.dtype);
    b.add_large(str("batch_norm eval ", s), {b.rnd(s), b.rnd({5}), b.rnd({5})},
                [rm, rv](const Vars& v) {
                  Tensor m = rm.to(v[0].device()).clone(), r = rv.to(v[0].device()).clone();
                  return ops::batch_norm(v[0], v[1], v[2], &m, &r, false, 0.1, 1e-5);
                });
  }
  b.add_large("linear 64x300 -> 10", {b.rnd({64, 300}), b.rnd({10, 300}, 0.1), b.rnd({10})},
              [](const Vars& v) { return ops::linear(v[0], v[1], v[2]); });
  b.add_large("linear 1x7 -> 130", {b.rnd({1, 7}), b.rnd({130, 7}), b.rnd({130})},
              [](const Vars& v) { return ops::linear(v[0], v[1], v[2]); });
  for (bool bias : {true, false}) {
    std::vector<Tensor> in{b.rnd({3, 5}), b.rnd({4, 5})};
    if (bias) in.push_back(b.rnd({4}));
    b.add(bias ? "linear 3x5 -> 4" : "linear 3x5 -> 4 nobias", in, [bias](const Vars& v) {
      return ops::linear(v[0], v[1], bias ? v[2] : Variable());
    });
  }
}

void elementwise_cases(Builder& b) {
  b.add("relu", {b.spread({2, 3, 4, 5})}, [](const Vars& v) { return ops::relu(v[0]); }, true);
  b.add_large("dropout p0.5 [64, 8, 9, 9]", {b.rnd({64, 8, 9, 9})},
              [](const Vars& v) { return ops::dropout(v[0], 0.5, true, 9, 3); });
  b.add("dropout p0.3", {b.rnd({2, 3, 5, 7})},
        [](const Vars& v) { return ops::dropout(v[0], 0.3, true, 42, 7); });
  b.add("add", {b.rnd({2, 3, 4}), b.rnd({2, 3, 4})},
        [](const Vars& v) { return ops::add(v[0], v[1]); });
  b.add("add same input twice", {b.rnd({3, 4})},
        [](const Vars& v) { return ops::add(v[0], v[0]); });
  b.add("scale", {b.rnd({2, 5})}, [](const Vars& v) { return ops::scale(v[0], -1.7); });
  b.add("pad_channels 1+3+2", {b.rnd({2, 3, 2, 3})},
        [](const Vars& v) { return ops::pad_channels(v[0], 1, 2); });
  b.add("concat_channels", {b.rnd({2, 1, 3, 3}), b.rnd({2, 3, 3, 3}), b.rnd({2, 2, 3, 3})},
        [](const Vars& v) { return ops::concat_channels({v[0], v[1], v[2]}); });
  b.add("slice_channels 1..4 of 6", {b.rnd({2, 6, 3, 2})},
        [](const Vars& v) { return ops::slice_channels(v[0], 1, 3); });
  b.add("flatten", {b.rnd({2, 3, 2, 2})}, [](const Vars& v) { return ops::flatten(v[0]); });
}

void loss_cases(Builder& b) {
  Tensor labels = Tensor::from_vector({5}, std::vector<int32_t>{0, 6, 3, 3, 1});
  b.add("cross_entropy 5x7", {b.rnd({5, 7}, 2.0)}, [labels](const Vars& v) {
    return ops::cross_entropy(v[0], labels.to(v[0].device()));
  });
  b.add("mse_loss", {b.rnd({2, 3, 4, 3}), b.rnd({2, 3, 4, 3})},
        [](const Vars& v) { return ops::mse_loss(v[0], v[1]); });
  b.add_large("mse_loss [64, 8, 16, 16]", {b.rnd({64, 8, 16, 16}), b.rnd({64, 8, 16, 16})},
              [](const Vars& v) { return ops::mse_loss(v[0], v[1]); });
  std::vector<int32_t> many(64);
  for (int i = 0; i < 64; ++i) many[i] = (i * 37) % 100;
  Tensor labels64 = Tensor::from_vector({64}, many);
  b.add_large("cross_entropy 64x100", {b.rnd({64, 100}, 3.0)}, [labels64](const Vars& v) {
    return ops::cross_entropy(v[0], labels64.to(v[0].device()));
  });
  b.add_large("sum [64, 8, 16, 16]", {b.rnd({64, 8, 16, 16})},
              [](const Vars& v) { return ops::sum(v[0]); });
  b.add("sum", {b.rnd({3, 4, 5})}, [](const Vars& v) { return ops::sum(v[0]); });
  b.add("mean", {b.rnd({3, 4, 5})}, [](const Vars& v) { return ops::mean(v[0]); });
  // A miniature SIRe block: encoder conv-bn-relu-pool, decoder upsample + skip, transposed
  // conv, reconstruction loss plus a classifier loss. Every op's backward feeds another.
  Tensor labels2 = Tensor::from_vector({2}, std::vector<int32_t>{1, 0});
  b.add("composite encoder-decoder",
        {b.rnd({2, 2, 6, 6}), b.rnd({3, 2, 3, 3}, 0.5), b.rnd({3}), b.rnd({3}), b.rnd({3, 2, 3, 3}, 0.5),
         b.rnd({2, 27}, 0.3)},
        [labels2](const Vars& v) {
          Variable h = ops::conv2d(v[0], v[1], Variable(), 1, 1);
          h = ops::batch_norm(h, v[2], v[3], nullptr, nullptr, true, 0.1, 1e-5);
          Variable a = ops::relu(h);
          Variable pooled = ops::max_pool2d(a, 2, 2);
          Variable up = ops::add(ops::upsample_nearest2d(pooled, 6, 6), a);
          // The same skip, folded (as a graph folds it): a's gradient has four consumers.
          Variable up2 = ops::upsample_nearest2d_add(pooled, a);
          Variable rec = ops::conv_transpose2d(ops::add(up, up2), v[4], Variable(), 1, 1);
          Variable logits = ops::linear(ops::flatten(pooled), v[5], Variable());
          Variable loss = ops::add(ops::cross_entropy(logits, labels2.to(v[0].device())),
                                   ops::scale(ops::mse_loss(rec, v[0]), 0.2));
          return loss;
        });
}

}  // namespace

std::vector<OpCase> op_cases(DType dtype, uint64_t seed) {
  Builder b{dtype, seed, {}};
  conv_cases(b);
  conv_transpose_cases(b);
  pool_cases(b);
  norm_and_dense_cases(b);
  elementwise_cases(b);
  loss_cases(b);
  return std::move(b.cases);
}

}  // namespace sire::testing
