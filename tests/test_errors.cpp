// Bad input raises sire::Error whose message names the op and the shapes at fault.
#include <catch2/catch.hpp>

#include "engine/ops.h"

using namespace sire;
using Catch::Contains;

static Variable zeros(Shape s) { return Variable(Tensor::zeros(s), true); }

TEST_CASE("shape mismatches name the op and the shapes", "[errors]") {
  CHECK_THROWS_WITH(ops::conv2d(zeros({2, 3, 8, 8}), zeros({4, 5, 3, 3}), Variable(), 1, 1),
                    Contains("conv2d") && Contains("[2, 3, 8, 8]") && Contains("[4, 5, 3, 3]"));
  CHECK_THROWS_WITH(ops::conv2d(zeros({2, 3, 2, 2}), zeros({4, 3, 5, 5}), Variable(), 1, 0),
                    Contains("conv2d") && Contains("larger than the padded input"));
  CHECK_THROWS_WITH(ops::conv2d(zeros({3, 8, 8}), zeros({4, 3, 3, 3}), Variable(), 1, 1),
                    Contains("conv2d: input must have 4 dimensions, got [3, 8, 8]"));
  CHECK_THROWS_WITH(ops::conv_transpose2d(zeros({2, 3, 8, 8}), zeros({4, 2, 3, 3}), Variable()),
                    Contains("conv_transpose2d") && Contains("[2, 3, 8, 8]") && Contains("[4, 2, 3, 3]"));
  CHECK_THROWS_WITH(ops::conv_transpose2d(zeros({1, 3, 4, 4}), zeros({3, 2, 3, 3}), Variable(), 2, 1, 2),
                    Contains("output_padding"));
  CHECK_THROWS_WITH(ops::add(zeros({2, 3}), zeros({3, 2})),
                    Contains("add") && Contains("[2, 3]") && Contains("[3, 2]"));
  CHECK_THROWS_WITH(ops::linear(zeros({2, 5}), zeros({4, 6}), Variable()),
                    Contains("linear") && Contains("[2, 5]") && Contains("[4, 6]"));
  CHECK_THROWS_WITH(ops::linear(zeros({2, 5}), zeros({4, 5}), zeros({3})),
                    Contains("linear: bias [3]"));
  CHECK_THROWS_WITH(ops::mse_loss(zeros({2, 3, 4, 4}), zeros({2, 3, 4, 5})),
                    Contains("mse_loss") && Contains("[2, 3, 4, 4]") && Contains("[2, 3, 4, 5]"));
  CHECK_THROWS_WITH(ops::batch_norm(zeros({2, 3, 4, 4}), zeros({4}), zeros({4}), nullptr, nullptr,
                                    true, 0.1, 1e-5),
                    Contains("batch_norm") && Contains("[2, 3, 4, 4]") && Contains("[4]"));
  CHECK_THROWS_WITH(ops::batch_norm(zeros({1, 3, 1, 1}), zeros({3}), zeros({3}), nullptr, nullptr,
                                    true, 0.1, 1e-5),
                    Contains("more than one value per channel"));
  CHECK_THROWS_WITH(
      ops::batch_norm_relu_add(zeros({2, 3, 4, 4}), zeros({3}), zeros({3}), nullptr, nullptr, true,
                               0.1, 1e-5, zeros({2, 3, 4, 5})),
      Contains("batch_norm_relu_add") && Contains("[2, 3, 4, 4]") && Contains("[2, 3, 4, 5]"));
  CHECK_THROWS_WITH(ops::batch_norm_add_relu(zeros({2, 3, 4, 4}), zeros({3}), zeros({3}), nullptr,
                                             nullptr, true, 0.1, 1e-5, zeros({2, 4, 4, 4})),
                    Contains("batch_norm_add_relu") && Contains("[2, 4, 4, 4]") &&
                        Contains("may have fewer channels"));
  CHECK_THROWS_WITH(ops::batch_norm_add_relu(zeros({2, 3, 4, 4}), zeros({3}), zeros({3}), nullptr,
                                             nullptr, true, 0.1, 1e-5, zeros({2, 2, 4, 5})),
                    Contains("batch_norm_add_relu") && Contains("[2, 2, 4, 5]"));
  CHECK_THROWS_WITH(ops::batch_norm_relu_add(zeros({2, 3, 4, 4}), zeros({3}), zeros({3}), nullptr,
                                             nullptr, true, 0.1, 1e-5, zeros({2, 2, 4, 4})),
                    Contains("batch_norm_relu_add") && Contains("[2, 2, 4, 4]"));
  CHECK_THROWS_WITH(
      ops::upsample_nearest2d_add(zeros({2, 3, 2, 2}), zeros({2, 4, 4, 4})),
      Contains("upsample_nearest2d_add") && Contains("[2, 3, 2, 2]") && Contains("[2, 4, 4, 4]"));
  CHECK_THROWS_WITH(ops::max_pool2d(zeros({1, 1, 1, 1}), 2, 2), Contains("max_pool2d"));
  CHECK_THROWS_WITH(ops::concat_channels({zeros({2, 1, 3, 3}), zeros({2, 1, 4, 3})}),
                    Contains("concat_channels") && Contains("[2, 1, 4, 3]"));
}

TEST_CASE("bad labels and mixed types are named", "[errors]") {
  Tensor labels = Tensor::from_vector({2}, std::vector<int32_t>{0, 9});
  CHECK_THROWS_WITH(ops::cross_entropy(zeros({2, 5}), labels),
                    Contains("label 9 of sample 1") && Contains("[0, 5)"));
  CHECK_THROWS_WITH(ops::cross_entropy(zeros({3, 5}), labels),
                    Contains("cross_entropy") && Contains("[2]") && Contains("[3, 5]"));
  Variable d(Tensor::zeros({2, 3}, DType::F64), true);
  CHECK_THROWS_WITH(ops::add(zeros({2, 3}), d), Contains("differ in type or device"));
}

TEST_CASE("errors say where they were raised", "[errors]") {
  try {
    ops::add(zeros({2}), zeros({3}));
    FAIL("no exception");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("engine/ops/elementwise.cpp:") != std::string::npos);
  }
}
