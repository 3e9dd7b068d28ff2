// Our half of the PyTorch parity check (tests/parity/pytorch_parity.py): trains a model file for
// a few steps on one fixed batch, exactly as `sire train` steps (forward, CE + lambda sum MSE,
// backward, SGD with Nesterov momentum and weight decay), and writes everything the Python side
// needs to repeat the steps in PyTorch and compare:
//   init/<name>    every parameter and buffer before the first step (what PyTorch starts from)
//   grad/<name>    every parameter's gradient in the first step
//   step1/<name>   every parameter and buffer after the first step
//   final/<name>   every parameter and buffer after the last step
//   loss/total, loss/ce, loss/mse<i>   each step's loss parts, one value a step
//
//   parity_step MODEL.json BATCH.safetensors OUT.safetensors STEPS LR WEIGHT_DECAY [f32|f64]
// BATCH holds "x" (F32, N x C x H x W) and "y" (I32, N); the model is built for x's shape and
// the file's classes, initialized in float32 and, with f64, converted to double precision with
// its input (the same numbers; every op then runs its double-precision reference path). Exit
// code 1 with the error's message on anything wrong.
#include <cstdio>
#include <exception>
#include <string>
#include <utility>
#include <vector>

#include "engine/error.h"
#include "engine/io/safetensors.h"
#include "engine/optim/sgd.h"
#include "engine/random.h"
#include "models/model.h"

namespace {

using namespace sire;
using Named = std::vector<std::pair<std::string, Tensor>>;

void add_state(Named& out, const std::string& prefix, models::Model& m) {
  for (auto& [name, v] : m.net().named_parameters())
    out.emplace_back(prefix + name, v.data().clone());
  for (auto& [name, v] : m.net().named_buffers()) out.emplace_back(prefix + name, v.data().clone());
}

int run(int argc, char** argv) {
  if (argc != 7 && argc != 8) {
    std::fprintf(stderr,
                 "usage: parity_step MODEL.json BATCH.safetensors OUT.safetensors STEPS LR "
                 "WEIGHT_DECAY [f32|f64]\n");
    return 2;
  }
  const std::string precision = argc == 8 ? argv[7] : "f32";
  SIRE_CHECK(precision == "f32" || precision == "f64", "precision must be f32 or f64, got '",
             precision, "'");
  const DType dtype = precision == "f64" ? DType::F64 : DType::F32;
  const std::string model_path = argv[1], batch_path = argv[2], out_path = argv[3];
  const int steps = std::stoi(argv[4]);
  const double lr = std::stod(argv[5]), weight_decay = std::stod(argv[6]);

  const io::TensorFile batch = io::load_safetensors(batch_path);
  const Tensor x = batch.get("x").to(dtype);
  const Tensor& y = batch.get("y");
  manual_seed(0);
  models::ModelOptions mo;
  mo.input = Shape{x.size(1), x.size(2), x.size(3)};
  models::Model model = models::Model::load(model_path, mo);
  model.net().to(dtype);

  Named out;
  add_state(out, "init/", model);
  optim::Sgd sgd(model.net().parameters(), optim::SgdOptions{lr, 0.9, 0.0, weight_decay, true});
  std::vector<double> total, ce;
  std::vector<std::vector<double>> mse(model.autoencoders().size());
  const Variable input(x);
  for (int s = 0; s < steps; ++s) {
    const models::ModelOutput o = model.forward(input);
    const models::LossParts loss = model.loss(o, input, y);
    sgd.zero_grad();
    loss.total.backward();
    total.push_back(loss.total.data().item());
    ce.push_back(loss.ce.item());
    for (size_t i = 0; i < loss.mse.size(); ++i) mse[i].push_back(loss.mse[i].item());
    if (s == 0)
      for (auto& [name, v] : model.net().named_parameters())
        if (v.has_grad()) out.emplace_back("grad/" + name, v.grad().clone());
    sgd.step();
    if (s == 0) add_state(out, "step1/", model);
  }
  add_state(out, "final/", model);
  const Shape per_step{static_cast<int64_t>(steps)};
  out.emplace_back("loss/total", Tensor::from_vector(per_step, total, DType::F64));
  out.emplace_back("loss/ce", Tensor::from_vector(per_step, ce, DType::F64));
  for (size_t i = 0; i < mse.size(); ++i)
    out.emplace_back("loss/mse" + std::to_string(i),
                     Tensor::from_vector(per_step, mse[i], DType::F64));
  io::save_safetensors(out_path, out);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "parity_step: %s\n", e.what());
    return 1;
  }
}
