#include "engine/optim/sgd.h"

#include "engine/backend.h"

namespace sire::optim {

Sgd::Sgd(std::vector<Variable> params, SgdOptions options)
    : params_(std::move(params)), buffers_(params_.size()), options_(options) {
  SIRE_CHECK(options.lr >= 0 && options.momentum >= 0 && options.weight_decay >= 0,
             "SGD: lr ", options.lr, ", momentum ", options.momentum, ", weight decay ",
             options.weight_decay, " must not be negative");
  SIRE_CHECK(!options.nesterov || (options.momentum > 0 && options.dampening == 0),
             "SGD: Nesterov momentum needs momentum > 0 and no dampening");
  for (const Variable& p : params_)
    SIRE_CHECK(p.requires_grad(), "SGD: parameter ", p.data().describe(),
               " does not require gradients");
}

void Sgd::step() {
  SgdStep st;
  st.lr = options_.lr;
  st.momentum = options_.momentum;
  st.dampening = options_.dampening;
  st.weight_decay = options_.weight_decay;
  st.nesterov = options_.nesterov;
  // The parameters of each device go to its backend together (one launch for many on a GPU).
  // New momentum buffers join buffers_ only once their step is done: a step that throws leaves
  // no buffer that looks filled but is not.
  for (Device device : {Device::CPU, Device::CUDA}) {
    std::vector<SgdParam> batch;
    std::vector<std::pair<size_t, Tensor>> fresh;
    fresh.reserve(params_.size());  // stable addresses for the pointers below
    for (size_t i = 0; i < params_.size(); ++i) {
      Variable& p = params_[i];
      if (!p.has_grad() || p.device() != device) continue;
      SgdParam sp{&p.data(), &p.grad(), nullptr, false};
      if (options_.momentum != 0.0) {
        sp.first = !buffers_[i].defined();
        if (sp.first) {
          fresh.emplace_back(i, Tensor::empty(p.shape(), p.dtype(), p.device()));
          sp.momentum_buffer = &fresh.back().second;
        } else {
          sp.momentum_buffer = &buffers_[i];
        }
      }
      batch.push_back(sp);
    }
    if (batch.empty()) continue;
    backend_for(device).sgd_update_all(batch, st);
    for (auto& [i, buf] : fresh) buffers_[i] = std::move(buf);
  }
  ++steps_;
}

void Sgd::zero_grad() {
  for (Variable& p : params_) p.zero_grad();
}

}  // namespace sire::optim
