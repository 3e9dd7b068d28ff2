// Finite-difference gradient check: compares the gradients that backward() computes with
// central differences of the same function, in double precision.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "engine/autograd/variable.h"

namespace sire::testing {

struct GradcheckOptions {
  double eps = 1e-6;   // step of the central difference
  double rtol = 1e-5;  // |analytic - numeric| <= atol + rtol max(|analytic|, |numeric|)
  double atol = 1e-7;
  // Skip elements where the function is not differentiable within the step (relu at 0, a tie in
  // max-pool): there the two one-sided differences disagree. At most `max_kink_fraction` of the
  // elements may be skipped.
  bool kinks = false;
  double max_kink_fraction = 0.05;
};

struct GradcheckReport {
  bool ok = true;
  int64_t checked = 0, kinks = 0;
  double worst = 0.0;   // largest error / tolerance
  std::string message;  // the first failure, with input, element, analytic and numeric values
};

// f is evaluated on Variables wrapping `inputs` (f64, CPU); every floating-point input is
// differentiated. The scalar checked is sum(f(x) * R) for a fixed random R of f(x)'s shape, so
// every output element's gradient counts.
GradcheckReport gradcheck(const std::function<Variable(const std::vector<Variable>&)>& f,
                          const std::vector<Tensor>& inputs, const GradcheckOptions& options = {});

}  // namespace sire::testing
