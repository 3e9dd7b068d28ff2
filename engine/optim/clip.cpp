#include "engine/optim/clip.h"

#include <algorithm>
#include <cmath>

#include "engine/backend.h"

namespace sire::optim {

void grad_squares(const std::vector<Variable>& params, Tensor& out) {
  SIRE_CHECK(out.ndim() == 1 && out.numel() == static_cast<int64_t>(params.size()),
             "grad_squares: needs one value per parameter (", params.size(), "), got ",
             out.describe());
  for (size_t i = 0; i < params.size(); ++i) {
    const int64_t k = static_cast<int64_t>(i);
    Tensor slot = out.narrow(k, k + 1).reshape({});
    if (params[i].has_grad()) {
      const Tensor& g = params[i].grad();
      SIRE_CHECK(g.dtype() == out.dtype() && g.device() == out.device(), "grad_squares: parameter ",
                 i, "'s gradient ", g.describe(), " does not match ", out.describe());
      backend_for(g.device()).sum_squares(g, slot);
    } else {
      slot.fill_(0.0);
    }
  }
}

double scale_grads_to_norm(const std::vector<Variable>& params, double norm, double max_norm) {
  SIRE_CHECK(max_norm > 0, "clip_grad_norm: the maximum norm must be positive, got ", max_norm);
  if (!std::isfinite(norm) || norm <= max_norm) return 1.0;
  const double factor = max_norm / norm;
  for (Variable p : params) {  // a handle: set_grad reaches the parameter itself
    if (!p.has_grad()) continue;
    // Out of place: two leaves may hold the same gradient tensor (an add's dy passed to both),
    // which scaling in place would scale twice.
    const Tensor& g = p.grad();
    Tensor scaled = Tensor::empty(g.shape(), g.dtype(), g.device());
    backend_for(g.device()).scale(g, factor, scaled);
    p.set_grad(std::move(scaled));
  }
  return factor;
}

double clip_grad_norm(const std::vector<Variable>& params, double max_norm) {
  SIRE_CHECK(max_norm > 0, "clip_grad_norm: the maximum norm must be positive, got ", max_norm);
  const auto with_grad =
      std::find_if(params.begin(), params.end(), [](const Variable& p) { return p.has_grad(); });
  if (with_grad == params.end()) return 0.0;
  // The same halves the trainer uses, the squares read back in one copy.
  Tensor squares = Tensor::empty({static_cast<int64_t>(params.size())}, with_grad->grad().dtype(),
                                 with_grad->device());
  grad_squares(params, squares);
  double total = 0.0;
  for (double v : squares.to(Device::CPU).to_vector()) total += v;
  const double norm = std::sqrt(total);
  scale_grads_to_norm(params, norm, max_norm);
  return norm;
}

}  // namespace sire::optim
