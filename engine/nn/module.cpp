#include "engine/nn/module.h"

namespace sire::nn {
namespace {

using Named = std::vector<std::pair<std::string, Variable>>;

void collect(const Module& m, const std::string& prefix, bool params, Named& out,
             const Named& (*own)(const Module&, bool)) {
  for (const auto& [name, v] : own(m, params)) out.emplace_back(prefix + name, v);
  for (const auto& [name, child] : m.children()) collect(*child, prefix + name + ".", params, out, own);
}

}  // namespace

// Gives collect() access to a module's own lists without making them public.
struct ModuleAccess {
  static const Named& own(const Module& m, bool params) { return params ? m.params_ : m.buffers_; }
};

std::vector<std::pair<std::string, Variable>> Module::named_parameters() const {
  Named out;
  collect(*this, "", true, out, &ModuleAccess::own);
  return out;
}

std::vector<Variable> Module::parameters() const {
  std::vector<Variable> out;
  for (auto& [name, v] : named_parameters()) out.push_back(v);
  return out;
}

std::vector<std::pair<std::string, Variable>> Module::named_buffers() const {
  Named out;
  collect(*this, "", false, out, &ModuleAccess::own);
  return out;
}

int64_t Module::parameter_count() const {
  int64_t n = 0;
  for (auto& [name, v] : named_parameters()) n += v.data().numel();
  return n;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_) child->train(on);
}

void Module::to(Device device) {
  for (auto* list : {&params_, &buffers_})
    for (auto& [name, v] : *list) {
      v.data() = v.data().to(device);
      if (v.has_grad()) v.set_grad(v.grad().to(device));
    }
  for (auto& [name, child] : children_) child->to(device);
}

void Module::to(DType dtype) {
  for (auto* list : {&params_, &buffers_})
    for (auto& [name, v] : *list) {
      v.data() = v.data().to(dtype);
      if (v.has_grad()) v.set_grad(v.grad().to(dtype));
    }
  for (auto& [name, child] : children_) child->to(dtype);
}

Variable Module::register_parameter(const std::string& name, Tensor value) {
  params_.emplace_back(name, Variable(std::move(value), true));
  return params_.back().second;
}

Variable Module::register_buffer(const std::string& name, Tensor value) {
  buffers_.emplace_back(name, Variable(std::move(value), false));
  return buffers_.back().second;
}

}  // namespace sire::nn
