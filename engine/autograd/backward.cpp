// The backward pass. Two steps:
//  1. Walk the graph from the root and count, for every Node, how many input edges of other
//     Nodes point at it ("dependencies"): its output gradient is complete only when all those
//     consumers have run.
//  2. Start at the root with d(root)/d(root); run a Node when its count falls to zero; add each
//     gradient it gives into its input's Node (or, for a leaf that requires one, into `grad`).
// A Node with several consumers gets several gradients, one from each. They are summed a few at
// a time (Pending), in one pass, rather than two by two; either way in arrival order, so the
// bits are the same. A sum goes into its first term only when nothing else holds that storage
// (a Node's output gradient may be shared: add passes the same tensor to both inputs);
// otherwise the sum is a new tensor.
#include <chrono>
#include <unordered_map>
#include <vector>

#include "engine/autograd/node.h"
#include "engine/backend.h"
#include "engine/profile.h"

namespace sire {
namespace {

// a + b, into a itself when a is the only handle on its storage (the pending sum of a tensor
// with several consumers, from its second gradient on): one stream of memory less, no new buffer.
Tensor sum_of(Tensor& a, const Tensor& b) {
  if (a.sole_owner()) {
    backend_for(a.device()).add(a, b, a);
    return a;
  }
  Tensor out = Tensor::empty(a.shape(), a.dtype(), a.device());
  backend_for(a.device()).add(a, b, out);
  return out;
}

// Runs a gradient sum, timed under "(gradient sums)" when profiling: sums belong to no layer,
// and `sire time --layers` lists them apart.
template <class F>
void timed_sum(const Tensor& like, const F& sum) {
  if (!profile::enabled()) return sum();
  const auto t0 = std::chrono::steady_clock::now();
  sum();
  backend_for(like.device()).synchronize();
  profile::layer_times()[profile::kGradientSums].backward_s +=
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void accumulate(Tensor& slot, const Tensor& g) {
  if (!slot.defined()) {
    slot = g;
    return;
  }
  timed_sum(g, [&] { slot = sum_of(slot, g); });
}

// A Node's output gradient while its consumers' gradients arrive: up to kHeld of them are held
// as they come, then summed all at once (Backend::add_n), when one more arrives or the Node is
// about to run. Summing k tensors reads k and writes one; two by two, it would read 2(k - 1) and
// write k - 1. The cost is memory: kHeld gradients alive instead of one. SIRe-CNN's activations
// at the 32x32 level each get 5 gradients (the next layer and four decoders' skips).
class Pending {
 public:
  static constexpr size_t kHeld = 4;

  void add(const Tensor& g) {
    parts_.push_back(g);
    if (parts_.size() > kHeld) collapse();
  }
  // The sum of everything added (moved out).
  Tensor take() {
    if (parts_.empty()) return Tensor();
    collapse();
    Tensor out = std::move(parts_[0]);
    parts_.clear();
    return out;
  }

 private:
  void collapse() {
    if (parts_.size() < 2) return;
    timed_sum(parts_[0], [&] {
      Tensor& first = parts_[0];
      Tensor out =
          first.sole_owner() ? first : Tensor::empty(first.shape(), first.dtype(), first.device());
      std::vector<const Tensor*> xs;
      for (const Tensor& t : parts_) xs.push_back(&t);
      backend_for(out.device()).add_n(xs, out);
      parts_.assign(1, out);
    });
  }

  std::vector<Tensor> parts_;
};

}  // namespace

void Variable::backward(bool retain_graph) const {
  SIRE_CHECK(defined() && data().numel() == 1, "backward() without an output gradient needs a "
             "1-element variable; this one has shape ", defined() ? to_string(shape()) : "none",
             ": pass its gradient to backward(grad)");
  backward(Tensor::full(shape(), 1.0, dtype(), device()), retain_graph);
}

void Variable::backward(const Tensor& grad_output, bool retain_graph) const {
  SIRE_CHECK(requires_grad(), "backward() on a variable that does not require a gradient: no "
             "input of its computation requires one, or it was computed under NoGradGuard");
  SIRE_CHECK(grad_output.shape() == shape() && grad_output.dtype() == dtype(),
             "backward(): output gradient ", grad_output.describe(), " for a variable ",
             data().describe());
  if (is_leaf()) {  // nothing recorded: the variable is its own gradient's destination
    Variable self = *this;
    Tensor g = self.grad();
    accumulate(g, grad_output);
    self.set_grad(g);
    return;
  }

  // 1. Count dependencies with an explicit stack (deep networks would overflow recursion).
  Node* root = grad_fn().get();
  std::unordered_map<Node*, int> dependencies{{root, 0}};
  std::vector<Node*> stack{root};
  while (!stack.empty()) {
    Node* node = stack.back();
    stack.pop_back();
    for (const Edge& edge : node->edges()) {
      Node* next = edge.node.get();
      if (!next) continue;
      auto [it, first_visit] = dependencies.emplace(next, 0);
      ++it->second;
      if (first_visit) stack.push_back(next);
    }
  }

  // 2. Run every Node once its output gradient is complete.
  std::unordered_map<Node*, Pending> pending;
  pending[root].add(grad_output);
  std::vector<Node*> ready{root};
  std::vector<std::shared_ptr<Node>> done;  // keeps nodes alive until all are released
  while (!ready.empty()) {
    Node* node = ready.back();
    ready.pop_back();
    Tensor grad = pending[node].take();
    pending.erase(node);
    std::vector<Tensor> grads;
    if (profile::enabled()) {  // attribute the time to the layer that recorded the node
      const auto t0 = std::chrono::steady_clock::now();
      grads = node->apply(grad);
      backend_for(grad.device()).synchronize();
      profile::layer_times()[node->scope()].backward_s +=
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    } else {
      grads = node->apply(grad);
    }
    grad = Tensor();  // free the output gradient as early as possible
    const std::vector<Edge>& edges = node->edges();
    for (size_t i = 0; i < edges.size(); ++i) {
      const Edge& edge = edges[i];
      if (!edge.requires_grad) continue;
      if (Node* next = edge.node.get()) {
        pending[next].add(grads[i]);
        if (--dependencies[next] == 0) ready.push_back(next);
      } else {
        Variable leaf = edge.leaf;
        Tensor g = leaf.grad();
        accumulate(g, grads[i]);
        leaf.set_grad(g);
      }
    }
    if (!retain_graph) {
      for (const Edge& edge : edges)
        if (edge.node) done.push_back(edge.node);
      node->release();
    }
  }
}

}  // namespace sire
