#include "tests/support/gradcheck.h"

#include <algorithm>
#include <cmath>

#include "engine/autograd/node.h"
#include "tests/support/op_cases.h"

namespace sire::testing {

GradcheckReport gradcheck(const std::function<Variable(const std::vector<Variable>&)>& f,
                          const std::vector<Tensor>& inputs, const GradcheckOptions& o) {
  std::vector<Tensor> x;
  std::vector<Variable> vars;
  for (const Tensor& t : inputs) {
    SIRE_CHECK(t.dtype() != DType::F32, "gradcheck wants f64 or i32 inputs, got ", t.describe());
    x.push_back(t.clone());
    vars.emplace_back(x.back(), t.dtype() == DType::F64);
  }

  // Analytic: backward with a random output gradient R.
  Variable out = f(vars);
  const Tensor R = random_tensor(out.shape(), DType::F64, 977);
  out.backward(R);
  const std::vector<double> r = R.to_vector();
  auto project = [&]() {  // <f(x), R> with the current contents of x
    NoGradGuard no_grad;
    std::vector<Variable> plain;
    for (const Tensor& t : x) plain.emplace_back(t, false);
    const std::vector<double> y = f(plain).data().to_vector();
    double s = 0.0;
    for (size_t i = 0; i < y.size(); ++i) s += y[i] * r[i];
    return s;
  };

  GradcheckReport rep;
  const double base = o.kinks ? project() : 0.0;
  for (size_t i = 0; i < x.size(); ++i) {
    if (x[i].dtype() != DType::F64) continue;
    SIRE_CHECK(vars[i].has_grad(), "gradcheck: input ", i, " received no gradient");
    const std::vector<double> analytic = vars[i].grad().to_vector();
    double* p = x[i].data<double>();
    for (int64_t j = 0; j < x[i].numel(); ++j) {
      const double saved = p[j];
      p[j] = saved + o.eps;
      const double plus = project();
      p[j] = saved - o.eps;
      const double minus = project();
      p[j] = saved;
      const double numeric = (plus - minus) / (2 * o.eps);
      const double a = analytic[static_cast<size_t>(j)];
      const double tol = o.atol + o.rtol * std::max(std::fabs(a), std::fabs(numeric));
      if (o.kinks) {
        const double right = (plus - base) / o.eps, left = (base - minus) / o.eps;
        if (std::fabs(right - left) > 10 * (o.atol + o.rtol * std::max(std::fabs(right), std::fabs(left)))) {
          ++rep.kinks;
          continue;
        }
      }
      ++rep.checked;
      const double err = std::fabs(a - numeric) / tol;
      if (!(err <= 1.0) && rep.ok) {
        rep.ok = false;
        rep.message = str("input ", i, " ", x[i].shape(), " element ", j, ": analytic ", a,
                          ", numeric ", numeric);
      }
      if (!(err <= rep.worst)) rep.worst = std::isnan(err) ? INFINITY : std::max(rep.worst, err);
    }
  }
  if (rep.ok && rep.kinks > o.max_kink_fraction * static_cast<double>(rep.checked + rep.kinks)) {
    rep.ok = false;
    rep.message = str(rep.kinks, " of ", rep.checked + rep.kinks,
                      " elements sit at a kink: too many to trust the check");
  }
  return rep;
}

}  // namespace sire::testing
