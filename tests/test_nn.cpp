#include <catch2/catch.hpp>

#include <cmath>

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
