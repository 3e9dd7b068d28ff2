// One seed gives bit-identical results on the CPU, run after run and on any number of threads.
#include <catch2/catch.hpp>

#include "engine/nn/layers.h"
#include "engine/ops.h"
#include "engine/optim/sgd.h"
#include "engine/random.h"
#include "kernels/cpu/gemm.h"
#include "tests/support/op_cases.h"

using namespace sire;

namespace {

// A few SGD steps of a small conv net with dropout and batch norm; returns every weight.
std::vector<double> train_small(uint64_t seed) {
  manual_seed(seed);
  nn::Sequential net;
  net.add(std::make_shared<nn::Conv2d>(3, 8, 3, 1, 1));
  net.add(std::make_shared<nn::BatchNorm2d>(8));
  net.add(std::make_shared<nn::ReLU>());
  net.add(std::make_shared<nn::MaxPool2d>(2, 2));
  net.add(std::make_shared<nn::Flatten>());
  net.add(std::make_shared<nn::Dropout>(0.5));
  net.add(std::make_shared<nn::Linear>(8 * 8 * 8, 10));
  optim::Sgd sgd(net.parameters(), {0.05, 0.9, 0, 5e-4, true});
  Tensor x = testing::random_tensor({16, 3, 16, 16}, DType::F32, seed + 1);
  std::vector<int32_t> y(16);
  for (int i = 0; i < 16; ++i) y[i] = i % 10;
  Tensor labels = Tensor::from_vector({16}, y);
  for (int step = 0; step < 5; ++step) {
    sgd.zero_grad();
    ops::cross_entropy(net(Variable(x)), labels).backward();
    sgd.step();
  }
  std::vector<double> out;
  for (auto& [name, p] : net.named_parameters())
    for (double v : p.data().to_vector()) out.push_back(v);
  for (auto& [name, b] : net.named_buffers())
    for (double v : b.data().to_vector()) out.push_back(v);
  return out;
}

}  // namespace

TEST_CASE("training is bit-identical run after run", "[determinism]") {
  const auto a = train_small(3), b = train_small(3);
  CHECK(a == b);
  CHECK(a != train_small(4));
}

TEST_CASE("training is bit-identical on one thread and on all", "[determinism]") {
  const int before = cpu::threads();
  cpu::set_threads(1);
  const auto one = train_small(5);
  cpu::set_threads(0);
  const auto all = train_small(5);
  cpu::set_threads(before);
  CHECK(one == all);
}
