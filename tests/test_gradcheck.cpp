// Every op's backward against central finite differences, in double precision.
#include <catch2/catch.hpp>

#include "engine/ops.h"
#include "tests/support/gradcheck.h"
#include "tests/support/op_cases.h"

using namespace sire;
using namespace sire::testing;

TEST_CASE("every op's backward matches finite differences", "[gradcheck]") {
  const auto cases = op_cases(DType::F64);
  REQUIRE(cases.size() > 40);
  for (const OpCase& c : cases) {
    if (!c.gradcheck) continue;
    GradcheckOptions o;
    o.kinks = c.kinks;
    GradcheckReport r = gradcheck(c.run, c.inputs, o);
    INFO(c.name << ": " << r.message << " (checked " << r.checked << ", kinks " << r.kinks
                << ", worst error/tolerance " << r.worst << ")");
    CHECK(r.ok);
    CHECK(r.checked > 0);
  }
}

// The check must be able to fail: an op whose backward is slightly wrong is caught.
TEST_CASE("the gradient check catches a wrong backward", "[gradcheck]") {
  auto wrong_scale = [](double forward_alpha, double backward_alpha) {
    return [=](const std::vector<Variable>& v) {
      Tensor y = Tensor::empty(v[0].shape(), v[0].dtype());
      const double* x = v[0].data().data<double>();
      for (int64_t i = 0; i < y.numel(); ++i) y.data<double>()[i] = forward_alpha * x[i] * x[i];
      Tensor xt = v[0].data();
      return record("square", y, {v[0]},
                    [=](const Tensor& gy, std::vector<Tensor>& g, const std::vector<bool>&) {
                      g[0] = Tensor::empty(gy.shape(), gy.dtype());
                      for (int64_t i = 0; i < gy.numel(); ++i)
                        g[0].data<double>()[i] =
                            2 * backward_alpha * xt.data<double>()[i] * gy.data<double>()[i];
                    });
    };
  };
  const Tensor x = random_tensor({3, 4}, DType::F64, 5);
  CHECK(gradcheck(wrong_scale(1.0, 1.0), {x}).ok);
  CHECK_FALSE(gradcheck(wrong_scale(1.0, 1.001), {x}).ok);  // 0.1% off
}

// A dropped border term (the classic im2col bug) changes only a few elements: still caught.
TEST_CASE("the gradient check catches an error in a single element", "[gradcheck]") {
  auto f = [](bool bug) {
    return [=](const std::vector<Variable>& v) {
      Tensor y = v[0].data().clone();
      return record("identity", y, {v[0]},
                    [=](const Tensor& gy, std::vector<Tensor>& g, const std::vector<bool>&) {
                      g[0] = gy.clone();
                      if (bug) g[0].data<double>()[0] = 0.0;
                    });
    };
  };
  const Tensor x = random_tensor({5, 5}, DType::F64, 6);
  CHECK(gradcheck(f(false), {x}).ok);
  CHECK_FALSE(gradcheck(f(true), {x}).ok);
}
