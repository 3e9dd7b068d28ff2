// Learning-rate schedules, by epoch (0-based: the epoch about to run), as PyTorch's
// MultiStepLR and CosineAnnealingLR give them when stepped once per epoch.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace sire::optim {

class LrSchedule {
 public:
  virtual ~LrSchedule() = default;
  virtual double lr(int epoch) const = 0;
  virtual std::string describe() const = 0;
};

class ConstantLr : public LrSchedule {
 public:
  explicit ConstantLr(double base) : base_(base) {}
  double lr(int) const override { return base_; }
  std::string describe() const override;

 private:
  double base_;
};

// base * gamma^(number of milestones <= epoch)
class MultiStepLr : public LrSchedule {
 public:
  MultiStepLr(double base, std::vector<int> milestones, double gamma);
  double lr(int epoch) const override;
  std::string describe() const override;

 private:
  double base_;
  std::vector<int> milestones_;
  double gamma_;
};

// eta_min + (base - eta_min) (1 + cos(pi epoch / t_max)) / 2
class CosineLr : public LrSchedule {
 public:
  CosineLr(double base, int t_max, double eta_min = 0.0);
  double lr(int epoch) const override;
  std::string describe() const override;

 private:
  double base_;
  int t_max_;
  double eta_min_;
};

}  // namespace sire::optim
