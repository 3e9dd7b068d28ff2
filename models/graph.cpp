#include "models/graph.h"

#include <algorithm>
#include <chrono>
#include <set>

#include "engine/backend.h"
#include "engine/nn/layers.h"
#include "engine/ops.h"
#include "engine/profile.h"
#include "models/layer_type.h"

namespace sire::models {

const LayerSpec& GraphPlan::layer(const std::string& name) const {
  auto it = index.find(name);
  SIRE_CHECK(it != index.end(), "no layer named '", name, "'");
  return layers[it->second];
}

const Shape& GraphPlan::shape_of(const std::string& name, const Shape& input) const {
  if (name == "input") return input;
  return shapes[index.at(name)];
}

namespace {

// Names a cycle among the layers that Kahn's algorithm could not order.
std::string describe_cycle(const std::vector<LayerSpec>& layers, const std::vector<int>& left,
                           const std::map<std::string, int>& pos) {
  std::set<int> remaining(left.begin(), left.end());
  int cur = left.front();
  std::vector<int> path;
  std::set<int> seen;
  while (!seen.count(cur)) {
    seen.insert(cur);
    path.push_back(cur);
    for (const std::string& in : layers[cur].inputs) {
      auto it = pos.find(in);
      if (it != pos.end() && remaining.count(it->second)) {
        cur = it->second;
        break;
      }
    }
  }
  std::string out;
  bool on = false;
  for (int i : path) {
    on = on || i == cur;
    if (on) out += layers[i].name + " <- ";
  }
  return out + layers[cur].name;
}

}  // namespace

GraphPlan plan_graph(std::vector<LayerSpec> layers, const Shape& input, const BuildContext& ctx) {
  std::map<std::string, int> pos;
  for (size_t i = 0; i < layers.size(); ++i) {
    validate_layer(layers[i], layer_type_of(layers[i]));
    SIRE_CHECK(layers[i].name != "input", layers[i].where(), ": 'input' names the model input");
    SIRE_CHECK(pos.emplace(layers[i].name, static_cast<int>(i)).second, layers[i].where(),
               ": layer name used twice");
  }
  // Inputs must exist; then order the layers (Kahn), keeping the file order among the ready.
  std::vector<int> pending(layers.size(), 0);
  std::vector<std::vector<int>> consumers(layers.size());
  for (size_t i = 0; i < layers.size(); ++i)
    for (const std::string& in : layers[i].inputs) {
      if (in == "input") continue;
      auto it = pos.find(in);
      SIRE_CHECK(it != pos.end(), layers[i].where(), ": input '", in, "' does not exist");
      ++pending[i];
      consumers[it->second].push_back(static_cast<int>(i));
    }
  std::vector<int> order, ready;
  for (size_t i = 0; i < layers.size(); ++i)
    if (pending[i] == 0) ready.push_back(static_cast<int>(i));
  std::reverse(ready.begin(), ready.end());
  while (!ready.empty()) {
    const int i = ready.back();
    ready.pop_back();
    order.push_back(i);
    std::vector<int> next;
    for (int c : consumers[i])
      if (--pending[c] == 0) next.push_back(c);
    std::sort(next.rbegin(), next.rend());
    ready.insert(ready.end(), next.begin(), next.end());
  }
  if (order.size() != layers.size()) {
    std::vector<int> left;
    for (size_t i = 0; i < layers.size(); ++i)
      if (pending[i] > 0) left.push_back(static_cast<int>(i));
    SIRE_FAIL(layers[left.front()].origin, ": the layers form a cycle: ",
              describe_cycle(layers, left, pos));
  }

  GraphPlan plan;
  for (int i : order) plan.layers.push_back(layers[i]);
  for (size_t i = 0; i < plan.layers.size(); ++i) plan.index[plan.layers[i].name] = static_cast<int>(i);
  for (const LayerSpec& l : plan.layers) {
    std::vector<int> ins;
    std::vector<Shape> in_shapes;
    for (const std::string& in : l.inputs) {
      ins.push_back(in == "input" ? -1 : plan.index.at(in));
      in_shapes.push_back(in == "input" ? input : plan.shapes[plan.index.at(in)]);
    }
    plan.inputs.push_back(ins);
    // A failure inside (a shape that does not fit) names the layer.
    plan.shapes.push_back(
        with_context(l.where(), [&] { return layer_type_of(l).infer(l, in_shapes, ctx); }));
    // Extents stay below 2^31 and a sample's size addressable, so the next layer's arithmetic
    // on them (an extent times a stride or a factor: below 2^62) cannot overflow.
    int64_t elems = 1;
    for (int64_t d : plan.shapes.back())
      SIRE_CHECK(d >= 0 && d <= kMaxExtent && !__builtin_mul_overflow(elems, d, &elems), l.where(),
                 ": gives the shape ", plan.shapes.back(),
                 " per sample, too large (extents must stay below 2^31)");
  }
  return plan;
}

GraphModel::GraphModel(GraphPlan plan, Shape input, const BuildContext& ctx)
    : plan_(std::move(plan)), input_(std::move(input)) {
  for (size_t i = 0; i < plan_.layers.size(); ++i) {
    std::vector<Shape> in_shapes;
    for (int j : plan_.inputs[i]) in_shapes.push_back(j < 0 ? input_ : plan_.shapes[j]);
    const LayerSpec& l = plan_.layers[i];
    // A failure inside (a weight too large to allocate, sizes a layer refuses) names the layer.
    modules_.push_back(register_module(l.name, with_context(l.where(), [&] {
                                         return layer_type_of(l).build(l, in_shapes, ctx);
                                       })));
  }
  fuse_batchnorm_relu();
  fold_into_sums();
}

void GraphModel::fuse_batchnorm_relu() {
  const size_t n = plan_.layers.size();
  passthrough_.assign(n, 0);
  fused_.assign(n, 0);
  host_.assign(n, -1);
  std::vector<int> uses(n, 0), consumer(n, -1);
  for (size_t i = 0; i < n; ++i)
    for (int j : plan_.inputs[i])
      if (j >= 0) {
        ++uses[j];
        consumer[j] = static_cast<int>(i);
      }
  for (size_t i = 0; i < n; ++i) {
    auto* bn = dynamic_cast<nn::BatchNorm2d*>(modules_[i].get());
    if (!bn || uses[i] != 1) continue;
    const int j = consumer[i];
    if (plan_.layers[j].type != "relu") continue;
    bn->fused_relu = true;
    fused_[i] = 1;
    passthrough_[j] = 1;
    host_[j] = static_cast<int>(i);
  }
}

void GraphModel::fold_into_sums() {
  const size_t n = plan_.layers.size();
  folds_.assign(n, Fold{});
  deferred_.assign(n, 0);
  std::vector<int> uses(n, 0);
  for (size_t i = 0; i < n; ++i)
    for (int j : plan_.inputs[i])
      if (j >= 0) ++uses[j];
  auto is_sum = [&](int i) { return plan_.layers[i].type == "add" && plan_.inputs[i].size() == 2; };
  auto other_of = [&](int sum, int f) {
    return plan_.inputs[sum][plan_.inputs[sum][0] == f ? 1 : 0];
  };
  for (size_t i = 0; i < n; ++i) {
    const int me = static_cast<int>(i);
    if (is_sum(me)) {
      for (int f : plan_.inputs[i]) {
        if (f < 0 || uses[f] != 1) continue;
        if (dynamic_cast<nn::Upsample*>(modules_[f].get())) {
          folds_[i] = Fold{Fold::kUpsampleAdd, f, f, other_of(me, f)};
          deferred_[f] = 1;
          host_[f] = me;
          break;
        }
        const int bn = passthrough_[f] ? plan_.inputs[f][0] : -1;  // a ReLU done by its batch norm
        if (bn >= 0 && fused_[bn]) {
          folds_[i] = Fold{Fold::kBnReluAdd, f, bn, other_of(me, f)};
          deferred_[f] = deferred_[bn] = 1;
          host_[f] = host_[bn] = me;
          break;
        }
      }
    } else if (plan_.layers[i].type == "relu" && !passthrough_[i]) {
      // A residual: a sum, or a shortcut (whose main path is its first input), of a batch norm.
      const int sum = plan_.inputs[i][0];
      if (sum < 0 || uses[sum] != 1) continue;
      const bool shortcut = plan_.layers[sum].type == "shortcut";
      if (!is_sum(sum) && !shortcut) continue;
      for (int f : plan_.inputs[sum]) {
        if (f < 0 || uses[f] != 1 || fused_[f] ||
            !dynamic_cast<nn::BatchNorm2d*>(modules_[f].get()))
          continue;
        if (shortcut && f != plan_.inputs[sum][0]) continue;
        folds_[i] = Fold{Fold::kBnAddRelu, sum, f, other_of(sum, f)};
        deferred_[sum] = deferred_[f] = 1;
        host_[sum] = host_[f] = me;
        break;
      }
    }
  }
}

std::vector<std::string> GraphModel::folded_sums() const {
  std::vector<std::string> out;
  for (size_t i = 0; i < folds_.size(); ++i)
    if (folds_[i].kind != Fold::kNone)
      out.push_back(plan_.layers[folds_[i].folded].name + " -> " + plan_.layers[i].name);
  return out;
}

int GraphModel::index_of(const std::string& name) const {
  auto it = plan_.index.find(name);
  SIRE_CHECK(it != plan_.index.end(), "the model has no layer named '", name, "'");
  return it->second;
}

std::vector<Variable> GraphModel::run(const Variable& x, const std::vector<int>& wanted) {
  const size_t n = plan_.layers.size();
  SIRE_CHECK(x.data().ndim() == 4 && Shape(x.shape().begin() + 1, x.shape().end()) == input_,
             "model input ", x.shape(), " does not match the model's input [N, ", input_[0], ", ",
             input_[1], ", ", input_[2], "]");
  // Which layers the wanted outputs need, and how many of those consume each layer.
  std::vector<char> needed(n, 0);
  for (int w : wanted) needed[w] = 1;
  for (size_t i = n; i-- > 0;)
    if (needed[i])
      for (int j : plan_.inputs[i])
        if (j >= 0) needed[j] = 1;
  std::vector<int> uses(n, 0);
  for (size_t i = 0; i < n; ++i)
    if (needed[i])
      for (int j : plan_.inputs[i])
        if (j >= 0) ++uses[j];
  for (int w : wanted) {
    ++uses[w];
    SIRE_CHECK(!fused_[w], "layer '", plan_.layers[w].name, "' is fused with the ReLU after it: "
               "its own output is not kept (ask for the ReLU's)");
    SIRE_CHECK(!deferred_[w], "layer '", plan_.layers[w].name,
               "' is computed inside the layer that consumes it (a sum, or a residual's ReLU): "
               "its own output is not kept (ask for that layer's)");
  }

  // Activations are dropped as soon as their last consumer has run (autograd keeps whatever
  // a backward pass needs).
  std::vector<Variable> act(n);
  auto input_of = [&](int j) { return j < 0 ? x : act[j]; };
  auto release = [&](int j) {
    if (j >= 0 && --uses[j] == 0) act[j] = Variable();
  };
  for (size_t i = 0; i < n; ++i) {
    if (!needed[i] || deferred_[i]) continue;  // (a deferred layer runs inside its consumer)
    if (passthrough_[i]) {  // a ReLU whose batch norm already applied it
      const int j = plan_.inputs[i][0];
      act[i] = input_of(j);
      release(j);
      continue;
    }
    std::vector<Variable> ins;
    for (int j : plan_.inputs[i]) ins.push_back(j < 0 ? x : act[j]);
    nn::Module& m = *modules_[i];
    // A layer with folded inputs: the upsample or batch norm they begin with runs here, on its
    // own input (`source`), with the other tensor of the sum added.
    const Fold& fold = folds_[i];
    const int source = fold.kind == Fold::kNone ? -1 : plan_.inputs[fold.producer][0];
    auto apply = [&]() -> Variable {
      switch (fold.kind) {
        case Fold::kUpsampleAdd:
          return static_cast<nn::Upsample&>(*modules_[fold.producer])
              .forward_add(input_of(source), input_of(fold.other));
        case Fold::kBnReluAdd:
          return static_cast<nn::BatchNorm2d&>(*modules_[fold.producer])
              .forward_add(input_of(source), input_of(fold.other));
        case Fold::kBnAddRelu:  // (a shortcut's missing channels are zeros the op skips)
          return static_cast<nn::BatchNorm2d&>(*modules_[fold.producer])
              .forward_add_relu(input_of(source), input_of(fold.other));
        case Fold::kNone:
          break;
      }
      auto* multi = dynamic_cast<MultiInput*>(&m);
      return multi ? multi->forward_inputs(ins) : m.forward(ins[0]);
    };
    if (profile::enabled()) {  // time the layer; the nodes it records carry its name
      profile::Scope scope(plan_.layers[i].name);
      const auto t0 = std::chrono::steady_clock::now();
      act[i] = apply();
      backend_for(x.device()).synchronize();
      profile::layer_times()[plan_.layers[i].name].forward_s +=
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    } else {
      act[i] = apply();
    }
    if (fold.kind != Fold::kNone) {  // the folded layers' input, and the tensor added, are consumed
      release(source);
      release(fold.other);
    } else {
      for (int j : plan_.inputs[i]) release(j);
    }
  }
  std::vector<Variable> out;
  for (int w : wanted) out.push_back(act[w]);
  return out;
}

Variable GraphModel::forward(const Variable& x) {
  return run(x, {static_cast<int>(plan_.layers.size()) - 1})[0];
}

std::string GraphModel::describe() const {
  std::string s;
  for (size_t i = 0; i < plan_.layers.size(); ++i) {
    const LayerSpec& l = plan_.layers[i];
    std::string ins;
    for (auto& in : l.inputs) ins += (ins.empty() ? "" : ", ") + in;
    s += str(l.name, " <- ", ins, ": ", modules_[i]->describe(), " -> ", plan_.shapes[i],
             folds_[i].kind != Fold::kNone
                 ? str(" (computes ", plan_.layers[folds_[i].folded].name, " itself)")
                 : "",
             "\n");
  }
  return s;
}

}  // namespace sire::models
