#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/backend.h"
#include "engine/nn/layers.h"
#include "engine/ops.h"
#include "engine/random.h"
#include "tests/support/op_cases.h"

using namespace sire;
using Catch::Detail::Approx;

TEST_CASE("modules name their parameters and buffers like PyTorch", "[nn]") {
  nn::Sequential net;
  net.add(std::make_shared<nn::Conv2d>(3, 4, 3, 1, 1), "conv");
  net.add(std::make_shared<nn::BatchNorm2d>(4), "bn");
  net.add(std::make_shared<nn::ReLU>());
  std::vector<std::string> names;
  for (auto& [n, p] : net.named_parameters()) names.push_back(n);
  CHECK(names == std::vector<std::string>{"conv.weight", "conv.bias", "bn.weight", "bn.bias"});
  names.clear();
  for (auto& [n, b] : net.named_buffers()) names.push_back(n);
  CHECK(names == std::vector<std::string>{"bn.running_mean", "bn.running_var"});
  CHECK(net.parameter_count() == 4 * 3 * 9 + 4 + 4 + 4);
  CHECK(net.describe().find("Conv2d(3, 4, kernel=3, stride=1, padding=1)") != std::string::npos);
}

TEST_CASE("default initializations follow PyTorch's bounds", "[nn]") {
  manual_seed(1);
  auto max_abs = [](const Variable& v) {
    double m = 0;
    for (double x : v.data().to_vector()) m = std::max(m, std::fabs(x));
    return m;
  };
  nn::Conv2d conv(16, 32, 3);
  const double conv_bound = 1.0 / std::sqrt(16.0 * 9);
  CHECK(max_abs(conv.weight) <= conv_bound);
  CHECK(max_abs(conv.weight) > 0.9 * conv_bound);  // the range is used, not just a corner
  CHECK(max_abs(conv.bias) <= conv_bound);
  nn::Linear lin(100, 10);
  CHECK(max_abs(lin.weight) <= 0.1);
  CHECK(max_abs(lin.weight) > 0.09);
  // ConvTranspose2d: PyTorch's rule takes the fan-in from the output channels.
  nn::ConvTranspose2d pt(64, 1, 3, 1, 1, 0, true, nn::TransposedFanIn::kPyTorch);
  CHECK(max_abs(pt.weight) > 0.9 / 3.0);
  CHECK(max_abs(pt.weight) <= 1.0 / 3.0);
  nn::ConvTranspose2d fi(64, 1, 3, 1, 1, 0, true, nn::TransposedFanIn::kInputChannels);
  CHECK(max_abs(fi.weight) <= 1.0 / 24.0);
  nn::BatchNorm2d bn(5);
  for (double v : bn.weight.data().to_vector()) CHECK(v == 1.0);
  for (double v : bn.running_var.data().to_vector()) CHECK(v == 1.0);
}

TEST_CASE("batch norm updates running statistics in training only", "[nn]") {
  nn::BatchNorm2d bn(2, 1e-5, 0.1);
  // Channel 0 holds 1..8, channel 1 holds 10 everywhere.
  std::vector<float> v;
  for (int n = 0; n < 2; ++n) {
    for (int i = 0; i < 4; ++i) v.push_back(static_cast<float>(n * 4 + i + 1));
    for (int i = 0; i < 4; ++i) v.push_back(10.0f);
  }
  Tensor x = Tensor::from_vector({2, 2, 2, 2}, v);
  Variable y = bn(Variable(x));
  // mean of 1..8 = 4.5, biased variance 5.25, unbiased 6.0
  CHECK(bn.running_mean.data().to_vector()[0] == Approx(0.45));
  CHECK(bn.running_var.data().to_vector()[0] == Approx(0.9 + 0.1 * 6.0));
  CHECK(bn.running_mean.data().to_vector()[1] == Approx(1.0));
  CHECK(y.data().to_vector()[0] == Approx((1 - 4.5) / std::sqrt(5.25 + 1e-5)));
  bn.eval();
  const auto before = bn.running_mean.data().to_vector();
  Variable z = bn(Variable(x));
  CHECK(bn.running_mean.data().to_vector() == before);
  CHECK(z.data().to_vector()[0] ==
        Approx((1 - 0.45) / std::sqrt(0.9 + 0.6 + 1e-5)));
}

TEST_CASE("batch norm's statistics stay exact far from zero and over many values", "[nn]") {
  // Values 1000 + noise of std 0.01: E[x^2] - E[x]^2 would lose every digit of the variance in
  // float, and a float sum of all 64 x 32 x 32 values would drift. The reference is the same
  // f32 values' statistics in double.
  const int N = 64, C = 2, HW = 32 * 32;
  Tensor x = Tensor::empty({N, C, 32, 32});
  Generator(5).fill_normal(x, 0.0, 1.0);
  float* px = x.data<float>();
  for (int64_t i = 0; i < x.numel(); ++i)
    px[i] = (i / HW) % C == 0 ? 1000.0f + 0.01f * px[i] : px[i];
  nn::BatchNorm2d bn(C, 1e-12, 1.0);  // momentum 1: the running statistics are the batch's
  bn(Variable(x));
  for (int c = 0; c < C; ++c) {
    double s = 0.0, ss = 0.0;
    for (int n = 0; n < N; ++n)
      for (int i = 0; i < HW; ++i) s += px[(n * C + c) * HW + i];
    const double mean = s / (N * HW);
    for (int n = 0; n < N; ++n)
      for (int i = 0; i < HW; ++i) ss += std::pow(px[(n * C + c) * HW + i] - mean, 2);
    const double unbiased = ss / (N * HW - 1);
    INFO("channel " << c);
    // The mean to float rounding, or to 1e-7 standard deviations where it is near zero.
    CHECK(bn.running_mean.data().to_vector()[c] ==
          Approx(mean).epsilon(1e-7).margin(1e-7 * std::sqrt(unbiased)));
    CHECK(bn.running_var.data().to_vector()[c] == Approx(unbiased).epsilon(1e-6));
  }
}

// Where a fused ReLU was off, the upstream gradient is dropped whatever it is, as relu_backward
// drops it (and PyTorch's ReLU): a NaN or infinite dy there must not reach the channel's sums.
TEST_CASE("batch norm + ReLU drops non-finite gradients where the ReLU was off", "[nn]") {
  for (DType dt : {DType::F32, DType::F64}) {
    INFO(dtype_name(dt));
    Variable x(testing::random_tensor({4, 2, 3, 3}, dt, 61), true);
    Variable gamma(Tensor::full({2}, 1.0, dt), true), beta(Tensor::zeros({2}, dt), true);
    Variable y = ops::batch_norm(x, gamma, beta, nullptr, nullptr, true, 0.1, 1e-5, true);
    const std::vector<double> out = y.data().to_vector();
    std::vector<double> g(out.size(), 1.0);
    int poisoned = 0;
    for (size_t i = 0; i < out.size(); ++i)
      if (out[i] == 0.0) g[i] = i % 2 ? NAN : INFINITY, ++poisoned;
    REQUIRE(poisoned > 0);
    y.backward(Tensor::from_vector(y.shape(), g).to(dt));
    for (double v : x.grad().to_vector()) REQUIRE(std::isfinite(v));
    for (double v : gamma.grad().to_vector()) REQUIRE(std::isfinite(v));
  }
}

// A residual with fewer channels than its batch norm (a shortcut widened by zero channels) is
// summed without its zeros stored: the same values as with the zeros stored (pad_channels), and
// the same gradient bits, with non-finite gradients where the ReLU was off, on a plane whose
// output is streamed past the caches and on a small one.
TEST_CASE("a narrower residual gives what its zero-padded copy gives", "[nn]") {
  for (Shape s : {Shape{16, 64, 32, 32}, Shape{3, 5, 7, 7}}) {
    const int64_t C = s[1];
    for (int64_t Cs : {int64_t{3}, C}) {
      INFO(s << ", residual of " << Cs << " channels");
      Shape narrow = s;
      narrow[1] = Cs;
      const Tensor x = testing::random_tensor(s, DType::F32, 81);
      const Tensor res = testing::random_tensor(narrow, DType::F32, 82);
      const Tensor gamma = testing::random_tensor({C}, DType::F32, 83);
      const Tensor beta = testing::random_tensor({C}, DType::F32, 84);
      struct Run {
        Variable x, gamma, beta, res, y;
      };
      auto run = [&](bool padded) {
        Run r{Variable(x.clone(), true), Variable(gamma.clone(), true),
              Variable(beta.clone(), true), Variable(res.clone(), true), Variable()};
        const Variable added = padded ? ops::pad_channels(r.res, 0, C - Cs) : r.res;
        r.y = ops::batch_norm_add_relu(r.x, r.gamma, r.beta, nullptr, nullptr, true, 0.1, 1e-5,
                                       added);
        return r;
      };
      Run got = run(false), want = run(true);
      const float *py = got.y.data().data<float>(), *pw = want.y.data().data<float>();
      int64_t differ = 0, positive = 0;
      for (int64_t i = 0; i < x.numel(); ++i) {  // (== : the zeros' signs may differ)
        differ += !(py[i] == pw[i]);
        positive += py[i] > 0.0f;
      }
      CHECK(differ == 0);
      REQUIRE(positive > 0);
      REQUIRE(positive < x.numel());
      // dy: non-finite where the output is zero, which the mask must drop.
      Tensor dy = testing::random_tensor(s, DType::F32, 85);
      for (int64_t i = 0; i < x.numel(); ++i)
        if (!(py[i] > 0.0f)) dy.data<float>()[i] = i % 2 ? NAN : -INFINITY;
      got.y.backward(dy);
      want.y.backward(dy);
      for (auto [a, b] : {std::pair<Variable*, Variable*>{&got.x, &want.x},
                          {&got.gamma, &want.gamma},
                          {&got.beta, &want.beta},
                          {&got.res, &want.res}}) {
        const Tensor ga = a->grad(), gb = b->grad();
        REQUIRE(ga.shape() == gb.shape());
        CHECK(std::memcmp(ga.raw_data(), gb.raw_data(), ga.nbytes()) == 0);
      }
      const std::vector<double> dx = got.x.grad().to_vector();
      CHECK(std::all_of(dx.begin(), dx.end(), [](double v) { return std::isfinite(v); }));
    }
  }
}

// Outputs of 4 MiB and more are written past the caches by vector code of their own: the same
// operations as the plain loops (fma, the add before or after the ReLU, the ReLU itself), so
// the same bits, in training and in evaluation. The expected values are computed here, one by
// one, from the statistics the call returns.
TEST_CASE("batch norm's streamed outputs are the plain loops' bits", "[nn]") {
  const int64_t N = 16, C = 64, HW = 32 * 32;  // 4 MiB
  Tensor x = testing::random_tensor({N, C, 32, 32}, DType::F32, 71);
  x.data<float>()[5] = NAN;  // channel 0 all NaN: a NaN stays NaN through the ReLU
  const Tensor skip = testing::random_tensor({N, C, 32, 32}, DType::F32, 72);
  const Tensor gamma = testing::random_tensor({C}, DType::F32, 73);
  const Tensor beta = testing::random_tensor({C}, DType::F32, 74);
  const Tensor rmean = testing::random_tensor({C}, DType::F32, 75);
  Tensor rvar = Tensor::full({C}, 0.7);
  struct Case {
    bool relu, add, before, eval;
  };
  for (Case k : {Case{false, false, false, false}, Case{true, false, false, false},
                 Case{true, true, false, false}, Case{true, true, true, false},
                 Case{true, true, true, true}, Case{false, false, false, true}}) {
    INFO("relu " << k.relu << ", add " << k.add << ", before the ReLU " << k.before << ", eval "
                 << k.eval);
    Tensor y = Tensor::empty(x.shape()), mean = Tensor::empty({C}), invstd = Tensor::empty({C});
    const BnAdd add{k.add ? &skip : nullptr, k.before};
    Backend& be = cpu_backend();
    if (k.eval && k.relu)
      be.batch_norm_relu_forward_eval(x, gamma, beta, rmean, rvar, 1e-5, y, mean, invstd, add);
    else if (k.eval)
      be.batch_norm_forward_eval(x, gamma, beta, rmean, rvar, 1e-5, y, mean, invstd);
    else if (k.relu)
      be.batch_norm_relu_forward_train(x, gamma, beta, y, mean, invstd, nullptr, nullptr, 0.1, 1e-5,
                                       add);
    else
      be.batch_norm_forward_train(x, gamma, beta, y, mean, invstd, nullptr, nullptr, 0.1, 1e-5);
    const float *px = x.data<float>(), *ps = skip.data<float>(), *py = y.data<float>();
    int64_t differ = 0;
    for (int64_t i = 0; i < x.numel(); ++i) {
      const int64_t c = i / HW % C;
      const float a = gamma.data<float>()[c] * invstd.data<float>()[c];
      const float b = std::fma(-mean.data<float>()[c], a, beta.data<float>()[c]);
      float t = std::fma(px[i], a, b);
      if (k.add && (k.before || !k.relu)) t += ps[i];
      if (k.relu) t = std::max(t, 0.0f);
      if (k.add && k.relu && !k.before) t += ps[i];
      differ += std::memcmp(&t, py + i, sizeof t) != 0;
    }
    CHECK(differ == 0);
  }
  // The input gradient: streamed into an aligned dx, and by the plain loop into one a float off
  // 64-byte alignment (which the streamed rows need), from the same statistics.
  const Tensor dy = testing::random_tensor({N, C, 32, 32}, DType::F32, 76);
  Tensor y = Tensor::empty(x.shape()), mean = Tensor::empty({C}), invstd = Tensor::empty({C});
  Backend& be = cpu_backend();
  be.batch_norm_relu_forward_train(x, gamma, beta, y, mean, invstd, nullptr, nullptr, 0.1, 1e-5,
                                   BnAdd{});
  for (bool relu : {false, true}) {
    INFO("input gradient, relu " << relu);
    Tensor streamed = Tensor::empty(x.shape());
    Tensor plain = Tensor::empty({x.numel() + 1}).narrow(1, x.numel() + 1).reshape(x.shape());
    REQUIRE(reinterpret_cast<uintptr_t>(plain.data<float>()) % 64 != 0);
    for (Tensor* dx : {&streamed, &plain}) {
      Tensor dg = Tensor::empty({C}), db = Tensor::empty({C});
      if (relu)
        be.batch_norm_relu_backward(dy, x, gamma, beta, mean, invstd, true, dx, &dg, &db);
      else
        be.batch_norm_backward(dy, x, gamma, mean, invstd, true, dx, &dg, &db);
    }
    CHECK(std::memcmp(streamed.data<float>(), plain.data<float>(), x.nbytes()) == 0);
    // And not all zeros or NaN: channel 1 (channel 0 holds the NaN) has values of both signs.
    const float* ps = streamed.data<float>();
    CHECK(std::isfinite(ps[HW]));
    CHECK(ps[HW] != 0.0f);
  }
}

// The decoders' folded upsample + skip sum at twice the size writes outputs of 4 MiB and more
// with streaming stores: each output is its source plus the skip, as the plain loop adds it.
TEST_CASE("upsample + skip sum written past the caches gives the plain loop's bits", "[nn]") {
  const Tensor x = testing::random_tensor({16, 64, 16, 16}, DType::F32, 81);
  const Tensor skip = testing::random_tensor({16, 64, 32, 32}, DType::F32, 82);
  Tensor y = Tensor::empty(skip.shape());
  REQUIRE(y.nbytes() >= (size_t{4} << 20));
  cpu_backend().upsample_nearest2d_forward(x, y, &skip);
  const float *px = x.data<float>(), *ps = skip.data<float>(), *py = y.data<float>();
  int64_t differ = 0;
  for (int64_t plane = 0; plane < 16 * 64; ++plane)
    for (int64_t i = 0; i < 32; ++i)
      for (int64_t j = 0; j < 32; ++j) {
        const int64_t o = (plane * 32 + i) * 32 + j;
        const float want = px[(plane * 16 + i / 2) * 16 + j / 2] + ps[o];
        differ += std::memcmp(&want, py + o, sizeof want) != 0;
      }
  CHECK(differ == 0);
}

// A sum into a tensor of its own of 4 MiB or more (a gradient's first sum), and a ReLU's
// gradient of that size, are written past the caches in whole aligned vectors, with the plain
// operation before the first aligned element and after the last whole vector: every element
// once, the same bits, whatever the output's alignment (and a NaN, zero or negative y masks).
TEST_CASE("element-wise outputs written past the caches cover every element once", "[nn]") {
  const int64_t n = (int64_t{1} << 20) + 37;  // 4 MiB and an odd tail
  Tensor a = testing::random_tensor({n}, DType::F32, 91);
  const Tensor b = testing::random_tensor({n}, DType::F32, 92);
  a.data<float>()[40] = NAN, a.data<float>()[41] = -0.0f, a.data<float>()[42] = 0.0f;
  for (bool relu : {false, true})
    for (int64_t shift : {0, 1, 5}) {
      INFO((relu ? "relu_backward" : "add")
           << ", output " << shift << " floats past its allocation's start");
      Tensor y = Tensor::full({n + shift}, NAN).narrow(shift, n + shift);
      if (relu)
        cpu_backend().relu_backward(a, b, y);
      else
        cpu_backend().add(a, b, y);
      const float *pa = a.data<float>(), *pb = b.data<float>(), *py = y.data<float>();
      int64_t differ = 0;
      for (int64_t i = 0; i < n; ++i) {
        const float want = relu ? (pa[i] > 0.0f ? pb[i] : 0.0f) : pa[i] + pb[i];
        differ += std::memcmp(&want, py + i, sizeof want) != 0;
      }
      CHECK(differ == 0);
    }
}

TEST_CASE("add_n gives the pairwise sums' bits, in place or not", "[nn]") {
  Backend& be = cpu_backend();
  for (DType dt : {DType::F32, DType::F64}) {
    for (size_t k : {size_t{3}, size_t{5}, size_t{8}, size_t{11}}) {
      INFO(dtype_name(dt) << ", " << k << " tensors");
      std::vector<Tensor> xs;
      for (size_t i = 0; i < k; ++i) xs.push_back(testing::random_tensor({3, 70001}, dt, 90 + i));
      std::vector<const Tensor*> ptrs;
      for (const Tensor& t : xs) ptrs.push_back(&t);
      Tensor want = Tensor::empty(xs[0].shape(), dt), got = Tensor::empty(xs[0].shape(), dt);
      be.Backend::add_n(ptrs, want);  // the default: two by two
      be.add_n(ptrs, got);
      CHECK(std::memcmp(got.raw_data(), want.raw_data(), want.nbytes()) == 0);
      Tensor first = xs[0].clone();  // into the first term itself
      ptrs[0] = &first;
      be.add_n(ptrs, first);
      CHECK(std::memcmp(first.raw_data(), want.raw_data(), want.nbytes()) == 0);
    }
  }
}

TEST_CASE("dropout: scaled, reproducible, off in evaluation", "[nn]") {
  Tensor x = Tensor::full({1000}, 1.0);
  Variable a = ops::dropout(Variable(x), 0.25, true, 9, 3);
  Variable b = ops::dropout(Variable(x), 0.25, true, 9, 3);
  CHECK(a.data().to_vector() == b.data().to_vector());
  int kept = 0;
  for (double v : a.data().to_vector()) {
    CHECK((v == 0.0 || v == Approx(1.0 / 0.75)));
    kept += v != 0.0;
  }
  CHECK(kept == Approx(750).margin(60));
  CHECK(ops::dropout(Variable(x), 0.25, true, 9, 4).data().to_vector() != a.data().to_vector());
  nn::Dropout d(0.5);
  d.eval();
  CHECK(d(Variable(x)).data().to_vector() == x.to_vector());
}

TEST_CASE("train and eval propagate to children", "[nn]") {
  nn::Sequential net;
  auto bn = std::make_shared<nn::BatchNorm2d>(3);
  net.add(bn);
  net.eval();
  CHECK_FALSE(bn->is_training());
  net.train();
  CHECK(bn->is_training());
}
