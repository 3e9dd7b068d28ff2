// Node: one op recorded in the forward pass, as the backward pass needs it.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "engine/autograd/variable.h"

namespace sire {

class Node;

// What a Node keeps of one input: where the input's gradient goes (the Node that produced it,
// or, for a leaf that requires a gradient, the leaf itself, whose `grad` it is added into),
// whether it needs one, and its shape (to check the gradient a closure gives). Not its values:
// an op keeps of its inputs only what its closure saved, so an activation that no closure needs
// (a sum's inputs, a max-pool's input) is freed as soon as the forward pass drops it.
struct Edge {
  std::shared_ptr<Node> node;  // the producer; null for a leaf
  Variable leaf;               // a leaf that requires a gradient; undefined otherwise
  bool requires_grad = false;
  Shape shape;
};

class Node {
 public:
  // Given d(loss)/d(output), fills grad_inputs[i] with d(loss)/d(inputs[i]) for each i where
  // needed[i]; the others may stay undefined (e.g. the gradient of an image input).
  using BackwardFn = std::function<void(const Tensor& grad_output, std::vector<Tensor>& grad_inputs,
                                        const std::vector<bool>& needed)>;

  Node(std::string op, const std::vector<Variable>& inputs, Shape output_shape, BackwardFn fn);
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  const std::string& op() const { return op_; }
  // The profiler scope (layer name) that was active when the op was recorded.
  const std::string& scope() const { return scope_; }
  void set_scope(std::string s) { scope_ = std::move(s); }
  const std::vector<Edge>& edges() const { return edges_; }  // one per input, in order
  const Shape& output_shape() const { return output_shape_; }
  bool released() const { return released_; }

  // Runs the closure; checks that every gradient it gives has its input's shape.
  std::vector<Tensor> apply(const Tensor& grad_output);

  // Drops the closure (and the tensors it saved) and the edges, once the backward pass is done.
  void release();

 private:
  // Moves out the Nodes that only this one keeps alive (so destroying a long graph is a loop,
  // not a recursion as deep as the graph).
  void steal_unique_inputs(std::vector<std::shared_ptr<Node>>& out);

  std::string op_, scope_;
  std::vector<Edge> edges_;
  Shape output_shape_;
  BackwardFn fn_;
  bool released_ = false;
};

// Gradient recording is on by default; a NoGradGuard turns it off in its scope (evaluation),
// so that ops record nothing and keep no tensors alive for a backward pass.
class GradMode {
 public:
  static bool enabled();
  static void set_enabled(bool on);
};

class NoGradGuard {
 public:
  NoGradGuard() : previous_(GradMode::enabled()) { GradMode::set_enabled(false); }
  ~NoGradGuard() { GradMode::set_enabled(previous_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// Wraps an op's output: when recording is on and some input requires a gradient, attaches a
// Node holding the inputs' edges and `fn`; otherwise the output is a plain Variable and `fn` is
// dropped along with whatever it captured.
Variable record(const char* op, Tensor output, std::vector<Variable> inputs, Node::BackwardFn fn);

}  // namespace sire
