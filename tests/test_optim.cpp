#include <catch2/catch.hpp>

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
