// The worked example of docs/autograd.md, number for number: if this test changes, the
// walkthrough must change with it.
#include <catch2/catch.hpp>

#include "engine/autograd/node.h"
#include "engine/ops.h"

using namespace sire;
using Catch::Detail::Approx;

TEST_CASE("docs/autograd.md worked example", "[walkthrough]") {
  // Forward: z = x W^T + b, h = relu(z), loss = mean((h - t)^2).
  Variable x(Tensor::from_vector({1, 2}, std::vector<float>{1.0f, 2.0f}), true);
  Variable W(Tensor::from_vector({2, 2}, std::vector<float>{0.5f, -1.0f, 1.5f, 0.25f}), true);
  Variable b(Tensor::from_vector({2}, std::vector<float>{0.1f, -0.2f}), true);
  Variable t(Tensor::from_vector({1, 2}, std::vector<float>{0.5f, 1.0f}), false);

  Variable z = ops::linear(x, W, b);
  Variable h = ops::relu(z);
  Variable loss = ops::mse_loss(h, t);

  auto v = [](const Variable& var) { return var.data().to_vector(); };
  CHECK(v(z)[0] == Approx(-1.4));
  CHECK(v(z)[1] == Approx(1.8));
  CHECK(v(h)[0] == 0.0);
  CHECK(v(h)[1] == Approx(1.8));
  CHECK(loss.data().item() == Approx(0.445));

  // The tape: loss <- mse_loss <- relu <- linear <- (x, W, b).
  REQUIRE(loss.grad_fn());
  CHECK(loss.grad_fn()->op() == "mse_loss");
  CHECK(loss.grad_fn()->edges()[0].node->op() == "relu");
  CHECK(h.grad_fn()->edges()[0].node->op() == "linear");
  CHECK(x.is_leaf());
  CHECK(t.grad_fn() == nullptr);

  loss.backward();

  // dL/dh = [-0.5, 0.8]; relu passes only the second: dL/dz = [0, 0.8].
  CHECK(v(b.detach()).size() == 2);
  const auto gb = b.grad().to_vector(), gW = W.grad().to_vector(), gx = x.grad().to_vector();
  CHECK(gb[0] == 0.0);
  CHECK(gb[1] == Approx(0.8));
  CHECK(gW[0] == 0.0);
  CHECK(gW[1] == 0.0);
  CHECK(gW[2] == Approx(0.8));
  CHECK(gW[3] == Approx(1.6));
  CHECK(gx[0] == Approx(1.2));
  CHECK(gx[1] == Approx(0.2));
  CHECK_FALSE(t.has_grad());  // t did not ask for a gradient
}
