// Variable: a Tensor that remembers how it was computed, so that gradients can flow back to it.
//
// Reverse-mode autograd in three pieces (docs/autograd.md walks through an example):
//  - Variable (this file): the numbers, plus `grad_fn`, the Node that produced them (null for a
//    leaf such as a parameter or an input), plus `grad`, where a leaf's gradient accumulates.
//  - Node (node.h): one recorded op: an Edge per input (where its gradient goes, not its values)
//    and a closure that turns the gradient of its output into gradients of its inputs, holding
//    just the tensors that closure needs.
//  - backward (backward.cpp): orders the recorded Nodes so that each runs after every Node that
//    consumes its output, then runs their closures once each, from the loss back to the leaves.
#pragma once

#include <memory>

#include "engine/tensor.h"

namespace sire {

class Node;

class Variable {
 public:
  Variable() = default;
  explicit Variable(Tensor data, bool requires_grad = false);

  bool defined() const { return impl_ != nullptr; }
  const Tensor& data() const;
  Tensor& data();  // optimizers update parameters in place, outside the graph
  // A leaf's accumulated gradient: undefined until a backward pass reaches it.
  const Tensor& grad() const;
  bool has_grad() const { return defined() && impl_->grad.defined(); }
  void zero_grad();  // forgets the gradient (it becomes undefined)
  void set_grad(Tensor g);

  bool requires_grad() const { return defined() && impl_->requires_grad; }
  void set_requires_grad(bool on);
  bool is_leaf() const { return !impl_ || impl_->grad_fn == nullptr; }
  const std::shared_ptr<Node>& grad_fn() const;
  Variable detach() const;  // same numbers, no history

  const Shape& shape() const { return data().shape(); }
  int64_t size(int dim) const { return data().size(dim); }
  DType dtype() const { return data().dtype(); }
  Device device() const { return data().device(); }

  // Back-propagates from this variable: the gradient of a 1-element variable is 1; any other
  // shape needs its output gradient. Unless retain_graph, the graph's saved tensors are freed
  // on the way, and a second backward through it fails.
  void backward(bool retain_graph = false) const;
  void backward(const Tensor& grad_output, bool retain_graph = false) const;

  // The result of a recorded op (used by record() in ops.h).
  static Variable from_node(Tensor data, std::shared_ptr<Node> node);
  bool is_same(const Variable& other) const { return impl_ == other.impl_; }

 private:
  struct Impl {
    Tensor data;
    Tensor grad;
    bool requires_grad = false;
    std::shared_ptr<Node> grad_fn;
  };
  std::shared_ptr<Impl> impl_;
};

}  // namespace sire
