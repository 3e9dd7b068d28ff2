#include <catch2/catch.hpp>

#include "engine/autograd/node.h"
#include "engine/ops.h"
#include "tests/support/op_cases.h"

using namespace sire;
using Catch::Detail::Approx;

static Variable leaf(std::vector<float> v, Shape s) {
  return Variable(Tensor::from_vector(s, v), true);
}

TEST_CASE("a variable used twice receives the sum of both gradients", "[autograd]") {
  Variable x = leaf({1, -2, 3}, {3});
  // loss = sum(x + 3x) -> dloss/dx = 4
  Variable loss = ops::sum(ops::add(x, ops::scale(x, 3.0)));
  loss.backward();
  for (double g : x.grad().to_vector()) CHECK(g == Approx(4.0));
}

TEST_CASE("a recorded op keeps of its inputs only what its closure saved", "[autograd]") {
  // a = 2x feeds a sum, whose backward needs none of its inputs' values: once the forward pass
  // drops `a`, nothing holds them but `kept`.
  Variable x(Tensor::from_vector({3}, std::vector<float>{1.0f, -2.0f, 3.0f}), true);
  Tensor kept;
  Variable y;
  {
    Variable a = ops::scale(x, 2.0);
    kept = a.data();
    y = ops::sum(ops::add(a, a));
  }
  CHECK(kept.sole_owner());
  y.backward();
  CHECK(x.grad().to_vector() == std::vector<double>{4.0, 4.0, 4.0});
}

TEST_CASE("summing a gradient in place never changes one that is shared", "[autograd]") {
  // add passes one tensor to both of its inputs, so h receives the same gradient tensor that u
  // and v are still to use: summing into it in place would change theirs. loss = sum(4 h) = 8 x.
  Variable x = leaf({1, -2, 3}, {3});
  Variable h = ops::scale(x, 2.0);
  Variable u = ops::add(h, h), v = ops::add(u, h), w = ops::add(v, h);
  ops::sum(w).backward();
  for (double g : x.grad().to_vector()) CHECK(g == Approx(8.0));
}

TEST_CASE("a variable with many consumers gets their gradients summed in arrival order",
          "[autograd]") {
  // h feeds 11 scales (more than Pending holds, so it sums more than once), each gradient a
  // different multiple: their sum, with the bits of adding them two by two in the order the
  // backward pass delivers them (the last recorded consumer's first).
  Variable x = leaf({1.0f, -2.0f, 3.0f, 0.1f}, {4});
  Variable h = ops::scale(x, 1.0);
  std::vector<double> c;
  Variable total;
  for (int k = 0; k < 11; ++k) {
    c.push_back(0.1 * (k + 1) + 1e-3 / (k + 1));
    Variable term = ops::scale(h, c.back());
    total = k == 0 ? term : ops::add(total, term);
  }
  ops::sum(total).backward();
  float want = static_cast<float>(c[10]);
  for (int k = 9; k >= 0; --k) want += static_cast<float>(c[k]);
  for (double g : x.grad().to_vector()) CHECK(g == static_cast<double>(want));
}

TEST_CASE("gradients accumulate over backward calls until zero_grad", "[autograd]") {
  Variable x = leaf({1, 2}, {2});
  ops::sum(ops::scale(x, 2.0)).backward();
  ops::sum(ops::scale(x, 5.0)).backward();
  for (double g : x.grad().to_vector()) CHECK(g == Approx(7.0));
  x.zero_grad();
  CHECK_FALSE(x.has_grad());
}

TEST_CASE("a second backward through a freed graph fails clearly", "[autograd]") {
  Variable x = leaf({1, 2, 3}, {3});
  Variable loss = ops::sum(ops::relu(x));
  loss.backward();
  try {
    loss.backward();
    FAIL("second backward did not throw");
  } catch (const Error& e) {
    const std::string m = e.what();
    CHECK(m.find("second time") != std::string::npos);
    CHECK(m.find("retain_graph") != std::string::npos);
  }
}

TEST_CASE("retain_graph allows a second backward", "[autograd]") {
  Variable x = leaf({1, 2, 3}, {3});
  Variable loss = ops::sum(ops::scale(x, 2.0));
  loss.backward(/*retain_graph=*/true);
  loss.backward();
  for (double g : x.grad().to_vector()) CHECK(g == Approx(4.0));
}

TEST_CASE("no-grad mode records nothing", "[autograd]") {
  Variable x = leaf({1, 2, 3}, {3});
  {
    NoGradGuard guard;
    Variable y = ops::relu(ops::scale(x, 2.0));
    CHECK_FALSE(y.requires_grad());
    CHECK(y.grad_fn() == nullptr);
    CHECK_THROWS_AS(ops::sum(y).backward(), Error);
  }
  CHECK(GradMode::enabled());
  CHECK(ops::relu(x).grad_fn() != nullptr);
}

TEST_CASE("ops on inputs that need no gradient record nothing", "[autograd]") {
  Variable x(Tensor::from_vector({2}, std::vector<float>{1, 2}), false);
  Variable y = ops::relu(x);
  CHECK(y.grad_fn() == nullptr);
  CHECK_FALSE(y.requires_grad());
}

TEST_CASE("backward of a non-scalar needs its output gradient", "[autograd]") {
  Variable x = leaf({1, 2}, {2});
  Variable y = ops::scale(x, 3.0);
  CHECK_THROWS_WITH(y.backward(), Catch::Contains("1-element"));
  y.backward(Tensor::from_vector({2}, std::vector<float>{1, 10}));
  CHECK(x.grad().to_vector()[1] == Approx(30.0));
}

TEST_CASE("only inputs that require gradients get them", "[autograd]") {
  Variable img(testing::random_tensor({1, 2, 5, 5}, DType::F32, 1), false);
  Variable w(testing::random_tensor({3, 2, 3, 3}, DType::F32, 2), true);
  ops::sum(ops::conv2d(img, w, Variable(), 1, 1)).backward();
  CHECK(w.has_grad());
  CHECK_FALSE(img.has_grad());
}

TEST_CASE("a deep chain back-propagates without recursion limits", "[autograd]") {
  Variable x = leaf({1}, {1});
  Variable y = x;
  for (int i = 0; i < 20000; ++i) y = ops::scale(y, 1.0);
  ops::sum(y).backward();
  CHECK(x.grad().item() == Approx(1.0));
}

TEST_CASE("a deep graph dropped without backward is freed without recursion", "[autograd]") {
  Variable x = leaf({1}, {1});
  {
    Variable y = x;
    for (int i = 0; i < 200000; ++i) y = ops::scale(y, 1.0);
  }  // destroying the chain must not overflow the stack
  CHECK(x.is_leaf());
}

TEST_CASE("detach cuts the history", "[autograd]") {
  Variable x = leaf({2}, {1});
  Variable y = ops::scale(x, 3.0).detach();
  CHECK(y.is_leaf());
  CHECK_FALSE(y.requires_grad());
}
