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
