// A small profiler for `sire time`: per-layer forward and backward seconds and the number of
// multiply-accumulates the convolutions and dense layers performed. Off unless enabled; when
// off, its cost is one branch per op.
//
// Backward time is attributed to layers through scopes: while a layer's forward runs inside a
// Scope, every autograd Node recorded takes the scope's name, and the backward pass adds each
// Node's time to it.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace sire::profile {

bool enabled();
void set_enabled(bool on);

class Scope {
 public:
  explicit Scope(const std::string& name);
  ~Scope();
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;
  static const std::string& current();

 private:
  std::string previous_;
};

struct LayerTime {
  double forward_s = 0, backward_s = 0;
};
std::map<std::string, LayerTime>& layer_times();
// Not layers: the sums of gradients of tensors with several consumers (skips, residuals), made
// by the backward pass, and the optimizer's update; `sire time --layers` lists them apart.
inline const char* const kGradientSums = "(gradient sums)";
inline const char* const kOptimizer = "(optimizer)";

void add_macs(int64_t n);  // counted only while enabled
int64_t macs();
void reset();  // clears times and MACs

}  // namespace sire::profile
