#include "engine/optim/schedule.h"

#include <algorithm>
#include <cmath>

#include "engine/error.h"

namespace sire::optim {

std::string ConstantLr::describe() const { return str("constant(", base_, ")"); }

MultiStepLr::MultiStepLr(double base, std::vector<int> milestones, double gamma)
    : base_(base), milestones_(std::move(milestones)), gamma_(gamma) {
  SIRE_CHECK(std::is_sorted(milestones_.begin(), milestones_.end()),
             "multistep schedule: milestones must be increasing");
}

double MultiStepLr::lr(int epoch) const {
  const auto passed = std::upper_bound(milestones_.begin(), milestones_.end(), epoch) -
                      milestones_.begin();
  return base_ * std::pow(gamma_, static_cast<double>(passed));
}

std::string MultiStepLr::describe() const {
  std::string m;
  for (size_t i = 0; i < milestones_.size(); ++i) m += (i ? "," : "") + std::to_string(milestones_[i]);
  return str("multistep(", base_, ", x", gamma_, " at ", m, ")");
}

CosineLr::CosineLr(double base, int t_max, double eta_min)
    : base_(base), t_max_(t_max), eta_min_(eta_min) {
  SIRE_CHECK(t_max > 0, "cosine schedule: t_max ", t_max, " must be positive");
}

double CosineLr::lr(int epoch) const {
  const double t = std::min(epoch, t_max_);
  return eta_min_ + (base_ - eta_min_) * (1.0 + std::cos(M_PI * t / t_max_)) / 2.0;
}

std::string CosineLr::describe() const {
  return str("cosine(", base_, ", t_max ", t_max_, ", min ", eta_min_, ")");
}

}  // namespace sire::optim
