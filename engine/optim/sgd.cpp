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
  for (size_t i = 0; i < params_.size(); ++i) {
    Variable& p = params_[i];
    if (!p.has_grad()) continue;
    SgdStep st;
    st.lr = options_.lr;
    st.momentum = options_.momentum;
    st.dampening = options_.dampening;
    st.weight_decay = options_.weight_decay;
    st.nesterov = options_.nesterov;
    Tensor* buf = nullptr;
    if (options_.momentum != 0.0) {
      st.first = !buffers_[i].defined();
      if (st.first) buffers_[i] = Tensor::empty(p.shape(), p.dtype(), p.device());
      buf = &buffers_[i];
    }
    backend_for(p.device()).sgd_update(p.data(), p.grad(), buf, st);
  }
  ++steps_;
}

void Sgd::zero_grad() {
  for (Variable& p : params_) p.zero_grad();
}

}  // namespace sire::optim
