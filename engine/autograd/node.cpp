#include "engine/autograd/node.h"

#include "engine/profile.h"

namespace sire {

namespace {
thread_local bool g_grad_enabled = true;
}  // namespace

bool GradMode::enabled() { return g_grad_enabled; }
void GradMode::set_enabled(bool on) { g_grad_enabled = on; }

Node::Node(std::string op, const std::vector<Variable>& inputs, Shape output_shape, BackwardFn fn)
    : op_(std::move(op)), output_shape_(std::move(output_shape)), fn_(std::move(fn)) {
  edges_.reserve(inputs.size());
  for (const Variable& v : inputs) {
    Edge e;
    e.requires_grad = v.requires_grad();
    e.shape = v.defined() ? v.shape() : Shape{};
    if (v.grad_fn())
      e.node = v.grad_fn();
    else if (e.requires_grad)
      e.leaf = v;
    edges_.push_back(std::move(e));
  }
}

std::vector<Tensor> Node::apply(const Tensor& grad_output) {
  SIRE_CHECK(!released_, "backward through the graph a second time: op '", op_,
             "' already freed its saved tensors in the first backward pass (call "
             "backward(retain_graph=true) the first time to keep them)");
  std::vector<bool> needed(edges_.size());
  for (size_t i = 0; i < edges_.size(); ++i) needed[i] = edges_[i].requires_grad;
  std::vector<Tensor> grads(edges_.size());
  fn_(grad_output, grads, needed);
  for (size_t i = 0; i < edges_.size(); ++i) {
    if (!needed[i]) continue;
    SIRE_CHECK(grads[i].defined(), "backward of '", op_, "' gave no gradient for input ", i);
    SIRE_CHECK(grads[i].shape() == edges_[i].shape, "backward of '", op_, "' gave a gradient ",
               grads[i].describe(), " for input ", i, " of shape ", edges_[i].shape);
  }
  return grads;
}

void Node::steal_unique_inputs(std::vector<std::shared_ptr<Node>>& out) {
  for (Edge& e : edges_)
    if (e.node && e.node.use_count() == 1) out.push_back(std::move(e.node));
  edges_.clear();
}

Node::~Node() {
  std::vector<std::shared_ptr<Node>> stack;
  steal_unique_inputs(stack);
  while (!stack.empty()) {
    std::shared_ptr<Node> node = std::move(stack.back());
    stack.pop_back();
    node->steal_unique_inputs(stack);
  }  // each node dies here with no inputs left, so its own destructor does not recurse
}

void Node::release() {
  fn_ = nullptr;
  edges_.clear();
  released_ = true;
}

Variable record(const char* op, Tensor output, std::vector<Variable> inputs, Node::BackwardFn fn) {
  bool any = false;
  for (const Variable& v : inputs) any = any || v.requires_grad();
  if (!any || !GradMode::enabled()) return Variable(std::move(output), false);
  Shape shape = output.shape();
  auto node = std::make_shared<Node>(op, inputs, shape, std::move(fn));
  if (profile::enabled()) node->set_scope(profile::Scope::current());
  return Variable::from_node(std::move(output), std::move(node));
}

}  // namespace sire
