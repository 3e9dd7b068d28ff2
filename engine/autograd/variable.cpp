#include "engine/autograd/variable.h"

#include "engine/autograd/node.h"

namespace sire {

Variable::Variable(Tensor data, bool requires_grad) : impl_(std::make_shared<Impl>()) {
  SIRE_CHECK(data.defined(), "a Variable needs a defined tensor");
  impl_->data = std::move(data);
  set_requires_grad(requires_grad);
}

Variable Variable::from_node(Tensor data, std::shared_ptr<Node> node) {
  Variable v(std::move(data), false);
  v.impl_->requires_grad = true;
  v.impl_->grad_fn = std::move(node);
  return v;
}

const Tensor& Variable::data() const {
  SIRE_CHECK(defined(), "use of an undefined Variable");
  return impl_->data;
}

Tensor& Variable::data() {
  SIRE_CHECK(defined(), "use of an undefined Variable");
  return impl_->data;
}

const Tensor& Variable::grad() const {
  SIRE_CHECK(defined(), "grad() of an undefined Variable");
  return impl_->grad;
}

void Variable::zero_grad() {
  if (defined()) impl_->grad = Tensor();
}

void Variable::set_grad(Tensor g) {
  SIRE_CHECK(defined(), "set_grad on an undefined Variable");
  SIRE_CHECK(!g.defined() || g.shape() == shape(), "set_grad: gradient ", g.describe(),
             " for a variable of shape ", shape());
  impl_->grad = std::move(g);
}

void Variable::set_requires_grad(bool on) {
  SIRE_CHECK(defined(), "set_requires_grad on an undefined Variable");
  SIRE_CHECK(is_leaf() || on, "only leaves can stop requiring gradients; use detach()");
  SIRE_CHECK(!on || impl_->data.dtype() != DType::I32,
             "an integer tensor cannot require gradients: ", impl_->data.describe());
  impl_->requires_grad = on;
}

const std::shared_ptr<Node>& Variable::grad_fn() const {
  static const std::shared_ptr<Node> none;
  return impl_ ? impl_->grad_fn : none;
}

Variable Variable::detach() const { return Variable(data(), false); }

}  // namespace sire
