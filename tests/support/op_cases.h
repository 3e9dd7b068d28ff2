// Every differentiable op, on several shapes each (odd sizes, stride 2, padding 0, 1 and 2),
// as a table that the gradient check, the reference checks and the cross-backend test all run.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "engine/ops.h"

namespace sire::testing {

struct OpCase {
  std::string name;             // "conv2d N2 C3 7x7 K4 k3 s1 p1"
  std::vector<Tensor> inputs;   // CPU tensors; integer ones (labels) are not differentiated
  // Runs the op on inputs of any device (the Variables wrap `inputs`, moved where needed).
  // Extra tensors it needs (labels, running statistics) are moved to the inputs' device.
  std::function<Variable(const std::vector<Variable>&)> run;
  bool kinks = false;           // relu / max-pool: non-differentiable points exist
  // Large cases (batch 64, more than one GPU tile) are too slow for finite differences, which
  // evaluate the op twice per input element; the cross-backend and f32/f64 tests run them.
  bool gradcheck = true;
};

// The whole table with float inputs of `dtype`, drawn from `seed`.
std::vector<OpCase> op_cases(DType dtype, uint64_t seed = 1);

// A CPU tensor of normal(0, 1) values.
Tensor random_tensor(const Shape& shape, DType dtype, uint64_t seed, double scale = 1.0);

}  // namespace sire::testing
