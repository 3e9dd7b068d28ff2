#include <catch2/catch.hpp>

#include <cmath>

#include "engine/backend.h"
#include "engine/optim/clip.h"
#include "engine/optim/schedule.h"
#include "engine/optim/sgd.h"

using namespace sire;
using Catch::Detail::Approx;

TEST_CASE("SGD follows PyTorch's update rule", "[optim]") {
  // One parameter, gradient g fixed at 1, p0 = 2, lr 0.1, momentum 0.9, wd 0.01.
  for (bool nesterov : {false, true}) {
    Variable p(Tensor::from_vector({1}, std::vector<float>{2.0f}), true);
    optim::Sgd sgd({p}, {0.1, 0.9, 0.0, 0.01, nesterov});
    double pv = 2.0, buf = 0.0;
    for (int step = 0; step < 3; ++step) {
      p.set_grad(Tensor::from_vector({1}, std::vector<float>{1.0f}));
      sgd.step();
      const double d = 1.0 + 0.01 * pv;
      buf = step == 0 ? d : 0.9 * buf + d;
      pv -= 0.1 * (nesterov ? d + 0.9 * buf : buf);
      CHECK(p.data().item() == Approx(pv).epsilon(1e-6));
    }
    CHECK(sgd.momentum_buffers()[0].item() == Approx(buf).epsilon(1e-6));
  }
}

TEST_CASE("SGD's vectorized step follows the rule on every element, in every variant", "[optim]") {
  // 1001 elements: whole vectors and a remainder. Each variant is a separate loop in the kernel.
  const int n = 1001;
  struct Variant {
    double momentum, dampening, weight_decay;
    bool nesterov;
  };
  for (Variant v : {Variant{0.0, 0.0, 0.01, false}, Variant{0.9, 0.0, 0.01, false},
                    Variant{0.9, 0.3, 0.0, false}, Variant{0.9, 0.0, 5e-4, true}}) {
    INFO("momentum " << v.momentum << ", dampening " << v.dampening << ", nesterov " << v.nesterov);
    std::vector<float> p0(n), g(n);
    for (int i = 0; i < n; ++i) p0[i] = 0.01f * static_cast<float>(i % 97) - 0.4f;
    Variable p(Tensor::from_vector({n}, p0), true);
    optim::Sgd sgd({p}, {0.05, v.momentum, v.dampening, v.weight_decay, v.nesterov});
    std::vector<double> pv(p0.begin(), p0.end()), buf(n, 0.0);
    for (int step = 0; step < 3; ++step) {
      for (int i = 0; i < n; ++i)
        g[i] = 0.02f * static_cast<float>((i * 7 + step * 13) % 31) - 0.3f;
      p.set_grad(Tensor::from_vector({n}, g));
      sgd.step();
      for (int i = 0; i < n; ++i) {
        double d = g[i] + v.weight_decay * pv[i];
        if (v.momentum != 0.0) {
          buf[i] = step == 0 ? d : v.momentum * buf[i] + (1.0 - v.dampening) * d;
          d = v.nesterov ? d + v.momentum * buf[i] : buf[i];
        }
        pv[i] -= 0.05 * d;
      }
      const float* got = p.data().data<float>();
      for (int i = 0; i < n; ++i) REQUIRE(got[i] == Approx(pv[i]).margin(1e-6));
    }
  }
}

TEST_CASE("SGD skips parameters without gradients and rejects bad settings", "[optim]") {
  Variable p(Tensor::from_vector({1}, std::vector<float>{2.0f}), true);
  optim::Sgd sgd({p}, {0.1, 0.9, 0, 0, false});
  sgd.step();
  CHECK(p.data().item() == 2.0);
  CHECK_THROWS_WITH(optim::Sgd({p}, {0.1, 0.0, 0, 0, true}), Catch::Contains("Nesterov"));
}

TEST_CASE("learning-rate schedules", "[optim]") {
  optim::MultiStepLr paper(0.1, {60, 120, 160}, 0.2);
  CHECK(paper.lr(0) == Approx(0.1));
  CHECK(paper.lr(59) == Approx(0.1));
  CHECK(paper.lr(60) == Approx(0.02));
  CHECK(paper.lr(120) == Approx(0.004));
  CHECK(paper.lr(199) == Approx(0.0008));
  optim::CosineLr cos(0.1, 10, 0.0);
  CHECK(cos.lr(0) == Approx(0.1));
  CHECK(cos.lr(5) == Approx(0.05));
  CHECK(cos.lr(10) == Approx(0.0).margin(1e-12));
  CHECK(optim::ConstantLr(0.3).lr(99) == 0.3);
}

namespace {

std::vector<float> ramp(int n, float step, float offset) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i)
    v[static_cast<size_t>(i)] = step * static_cast<float>(i % 53) + offset;
  return v;
}

double squares(const std::vector<float>& v) {
  double s = 0;
  for (float x : v) s += static_cast<double>(x) * x;
  return s;
}

}  // namespace

TEST_CASE("sum_squares adds the squares of every element, in f32 and f64", "[optim]") {
  // 10007 elements: several of the reduction's blocks and a remainder.
  const std::vector<float> v = ramp(10007, 0.013f, -0.3f);
  Tensor out = Tensor::empty({}, DType::F32);
  cpu_backend().sum_squares(Tensor::from_vector({10007}, v), out);
  CHECK(out.item() == Approx(squares(v)).epsilon(1e-6));
  const Tensor x64 = Tensor::from_vector({10007}, v).to(DType::F64);
  Tensor out64 = Tensor::empty({}, DType::F64);
  cpu_backend().sum_squares(x64, out64);
  CHECK(out64.item() == Approx(squares(v)).epsilon(1e-12));
}

TEST_CASE("gradient clipping scales every gradient to the global norm, only above it", "[optim]") {
  const std::vector<float> ga = ramp(1001, 0.01f, -0.2f), gb = ramp(37, -0.05f, 1.0f);
  const double norm = std::sqrt(squares(ga) + squares(gb));
  auto make = [&] {
    std::vector<Variable> ps = {Variable(Tensor::zeros({1001}), true),
                                Variable(Tensor::zeros({37}), true),
                                Variable(Tensor::zeros({5}), true)};  // no gradient: skipped
    ps[0].set_grad(Tensor::from_vector({1001}, ga));
    ps[1].set_grad(Tensor::from_vector({37}, gb));
    return ps;
  };
  SECTION("above the maximum: scaled by max / norm, each element") {
    std::vector<Variable> ps = make();
    const double max_norm = norm / 4;
    CHECK(optim::clip_grad_norm(ps, max_norm) == Approx(norm).epsilon(1e-6));
    const float* a = ps[0].grad().data<float>();
    const float* b = ps[1].grad().data<float>();
    for (size_t i = 0; i < ga.size(); ++i) REQUIRE(a[i] == Approx(ga[i] / 4.0).margin(1e-7));
    for (size_t i = 0; i < gb.size(); ++i) REQUIRE(b[i] == Approx(gb[i] / 4.0).margin(1e-7));
    CHECK_FALSE(ps[2].has_grad());
    CHECK(optim::clip_grad_norm(ps, max_norm) == Approx(max_norm).epsilon(1e-6));
  }
  SECTION("at or below it: the gradients keep their bits") {
    std::vector<Variable> ps = make();
    CHECK(optim::clip_grad_norm(ps, norm * 1.01) == Approx(norm).epsilon(1e-6));
    CHECK(ps[0].grad().to_vector() == std::vector<double>(ga.begin(), ga.end()));
    CHECK(ps[1].grad().to_vector() == std::vector<double>(gb.begin(), gb.end()));
  }
  SECTION("the halves: squares per parameter, then the scaling by a given norm") {
    std::vector<Variable> ps = make();
    Tensor sq = Tensor::empty({3});
    optim::grad_squares(ps, sq);
    const std::vector<double> got = sq.to_vector();
    CHECK(got[0] == Approx(squares(ga)).epsilon(1e-6));
    CHECK(got[1] == Approx(squares(gb)).epsilon(1e-6));
    CHECK(got[2] == 0.0);
    CHECK(optim::scale_grads_to_norm(ps, norm, norm / 2) == Approx(0.5));
    CHECK(ps[0].grad().data<float>()[3] == Approx(ga[3] / 2.0));
    CHECK(optim::scale_grads_to_norm(ps, std::nan(""), 1.0) == 1.0);  // the caller's to judge
    CHECK(optim::scale_grads_to_norm(ps, HUGE_VAL, 1.0) == 1.0);
    Tensor wrong = Tensor::empty({2});
    CHECK_THROWS_WITH(optim::grad_squares(ps, wrong),
                      Catch::Contains("one value per parameter (3)"));
    Tensor f64 = Tensor::empty({3}, DType::F64);  // the gradients are f32
    CHECK_THROWS_WITH(optim::grad_squares(ps, f64), Catch::Contains("parameter 0's gradient") &&
                                                        Catch::Contains("does not match"));
  }
  SECTION("two parameters holding one gradient tensor are each scaled once") {
    // An add's backward may hand the same dy to two leaves.
    std::vector<Variable> ps = {Variable(Tensor::zeros({37}), true),
                                Variable(Tensor::zeros({37}), true)};
    const Tensor shared = Tensor::from_vector({37}, gb);
    ps[0].set_grad(shared);
    ps[1].set_grad(shared);
    const double both = std::sqrt(2 * squares(gb));
    optim::clip_grad_norm(ps, both / 2);
    for (const Variable& p : ps) CHECK(p.grad().data<float>()[5] == Approx(gb[5] / 2.0));
  }
  SECTION("a maximum that is not positive is refused") {
    std::vector<Variable> ps = make();
    CHECK_THROWS_WITH(optim::clip_grad_norm(ps, 0.0), Catch::Contains("must be positive"));
    CHECK_THROWS_WITH(optim::clip_grad_norm(ps, -1.0), Catch::Contains("must be positive"));
  }
}
