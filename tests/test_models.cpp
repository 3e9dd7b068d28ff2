// Models from JSON: exact parameter counts, shapes, forward and backward of every model file,
// and a finite-difference check of a tiny SIRe network with all three parts on.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

#include "engine/nn/init.h"
#include "engine/ops.h"
#include "engine/random.h"
#include "models/model.h"
#include "tests/support/op_cases.h"

using namespace sire;
using namespace sire::models;

namespace {

std::string model_path(const std::string& name) { return std::string(SIRE_SOURCE_DIR) + "/models/" + name; }

int64_t count(const std::string& file, int64_t classes, Shape input) {
  nn::init::SkipGuard skip;
  return Model::load(model_path(file), {classes, input, std::nullopt, std::nullopt}).parameter_count();
}

int64_t count_aes(std::vector<int> aes) {
  nn::init::SkipGuard skip;
  ModelSpec s = load_model_spec(model_path("baseline-cnn.json"));
  s.sire.enabled = true;
  s.sire.autoencoders = std::move(aes);
  s.sire.skips = s.sire.residual = true;
  return Model::from_spec(s, {100, Shape{3, 32, 32}, std::nullopt, std::nullopt}).parameter_count();
}

}  // namespace

TEST_CASE("CNN parameter counts match docs/sire.md to the digit", "[models]") {
  const Shape cifar{3, 32, 32};
  CHECK(count("baseline-cnn.json", 100, cifar) == 7939492);
  CHECK(count("re-cnn.json", 100, cifar) == 7939492);
  for (const char* f : {"i-cnn.json", "ire-cnn.json", "si-cnn.json", "sire-cnn.json"}) {
    INFO(f);
    CHECK(count(f, 100, cifar) == 14072944);
  }
  CHECK(count_aes({1}) == 7978279);
  CHECK(count_aes({2}) == 8200039);
  CHECK(count_aes({3}) == 9085927);
  CHECK(count_aes({4}) == 12627175);
  // The single-AE model files (SIRe-CNN with one auto-encoder) give the same counts.
  CHECK(count("sire-cnn-ae1.json", 100, cifar) == 7978279);
  CHECK(count("sire-cnn-ae2.json", 100, cifar) == 8200039);
  CHECK(count("sire-cnn-ae3.json", 100, cifar) == 9085927);
  CHECK(count("sire-cnn-ae4.json", 100, cifar) == 12627175);
  CHECK(count_aes({1, 2}) == 8238826);
  CHECK(count_aes({1, 3}) == 9124714);
  CHECK(count_aes({1, 4}) == 12665962);
  CHECK(count_aes({2, 3}) == 9346474);
  CHECK(count_aes({2, 4}) == 12887722);
  CHECK(count_aes({3, 4}) == 13773610);
  CHECK(count_aes({1, 2, 3}) == 9385261);
  CHECK(count_aes({1, 2, 4}) == 12926509);
  CHECK(count_aes({2, 3, 4}) == 14034157);
  // At 224x224 the adaptive 2x2 pool keeps the head, so the count does not change.
  CHECK(count("baseline-cnn.json", 100, {3, 224, 224}) == 7939492);
}

TEST_CASE("literature networks have their standard ImageNet parameter counts", "[models]") {
  const Shape imagenet{3, 224, 224};
  CHECK(count("vgg16.json", 1000, imagenet) == 138365992);
  CHECK(count("vgg19.json", 1000, imagenet) == 143678248);
  CHECK(count("resnet34.json", 1000, imagenet) == 21797672);
  CHECK(count("resnet50.json", 1000, imagenet) == 25557032);
  CHECK(count("googlenet.json", 1000, imagenet) == 13004888);  // with both auxiliary classifiers
  // SIRe versions (docs/sire.md compares them with the paper's Table 4).
  CHECK(count("sire-vgg19.json", 1000, imagenet) == 176929591);  // paper: 176.8M
  CHECK(count("sire-vgg16.json", 1000, imagenet) == 162763063);  // paper: 160.9M
  CHECK(count("sire-resnet34.json", 1000, imagenet) == 52616183);  // paper: 50.4M
  CHECK(count("sire-resnet50.json", 1000, imagenet) == 59058167);  // paper: 59.4M
  CHECK(count("sire-googlenet.json", 1000, imagenet) == 17051812);  // paper: 17.0M
  // The VGG16 ablations of docs/results.md: the residuals have no parameters.
  CHECK(count("re-vgg16.json", 1000, imagenet) == 138365992);
  CHECK(count("si-vgg16.json", 1000, imagenet) == 162763063);
}

// The model prints itself back as a model file (decoders written out) that builds the same
// network: same parameters, same outputs from the same seed.
TEST_CASE("a model printed back as a file builds the same network", "[models]") {
  for (const char* f : {"sire-cnn.json", "ire-cnn.json", "baseline-cnn.json", "sire-resnet34.json"}) {
    INFO(f);
    manual_seed(9);
    Model a = Model::load(model_path(f), {10, Shape{1, 32, 32}, std::nullopt, std::nullopt});
    manual_seed(9);
    Model b = Model::from_spec(parse_model_spec(a.spec_json(), "printed"));
    CHECK(b.parameter_count() == a.parameter_count());
    CHECK(b.autoencoders() == a.autoencoders());
    CHECK(b.lambda() == a.lambda());
    a.net().eval();
    b.net().eval();
    Variable x(testing::random_tensor({2, 1, 32, 32}, DType::F32, 10));
    ModelOutput oa = a.forward(x), ob = b.forward(x);
    CHECK(oa.logits.data().to_vector() == ob.logits.data().to_vector());
    REQUIRE(oa.reconstructions.size() == ob.reconstructions.size());
    for (size_t i = 0; i < oa.reconstructions.size(); ++i)
      CHECK(oa.reconstructions[i].data().to_vector() == ob.reconstructions[i].data().to_vector());
  }
}

TEST_CASE("output and reconstruction shapes", "[models]") {
  manual_seed(1);
  Model m = Model::load(model_path("sire-cnn.json"), {10, Shape{1, 32, 32}, std::nullopt, std::nullopt});
  CHECK(m.autoencoders() == std::vector<int>{1, 2, 3, 4});
  Variable x(testing::random_tensor({2, 1, 32, 32}, DType::F32, 3));
  ModelOutput out = m.forward(x);
  CHECK(out.logits.shape() == Shape{2, 10});
  REQUIRE(out.reconstructions.size() == 4);
  for (const Variable& r : out.reconstructions) CHECK(r.shape() == x.shape());
  // Evaluation runs the classifier only.
  CHECK(m.forward(x, true).reconstructions.empty());
}

TEST_CASE("sums compute their upsample or batch norm inputs themselves, the same values",
          "[models]") {
  manual_seed(1);
  Model m =
      Model::load(model_path("sire-cnn.json"), {10, Shape{1, 32, 32}, std::nullopt, std::nullopt});
  // Each decoder level: upsample -> sum with the block's 2nd ReLU, and the level's first
  // transposed conv's batch norm + ReLU -> sum with the block's 1st ReLU (1 + 2 + 3 + 4 levels);
  // each encoder block's residual: its 2nd batch norm + shortcut -> its ReLU.
  const std::vector<std::string> folded = m.net().folded_sums();
  CHECK(folded.size() == 24);
  CHECK(std::count(folded.begin(), folded.end(), "res2 -> relu2b") == 1);
  CHECK(std::count(folded.begin(), folded.end(), "ae1.pool1_up -> ae1.relu1b_skip") == 1);
  CHECK(std::count(folded.begin(), folded.end(), "ae3.conv2b_t_relu -> ae3.relu2a_skip") == 1);
  CHECK(m.net().describe().find("(computes ae4.pool4_up itself)") != std::string::npos);
  auto in = [&](const char* layer) { return m.net().computed_in(m.net().index_of(layer)); };
  CHECK(in("ae1.pool1_up") == m.net().index_of("ae1.relu1b_skip"));
  CHECK(in("ae3.conv2b_t_bn") == m.net().index_of("ae3.relu2a_skip"));
  CHECK(in("res3") == m.net().index_of("relu3b"));
  CHECK(in("relu1a") == m.net().index_of("bn1a"));  // a ReLU its batch norm applies
  CHECK(in("conv1a") == -1);
  // A folded layer's own output is never formed, so it cannot be asked for.
  Variable x(testing::random_tensor({2, 1, 32, 32}, DType::F32, 3));
  CHECK_THROWS_WITH(m.net().run(x, {m.net().index_of("ae1.pool1_up")}),
                    Catch::Contains("ae1.pool1_up") && Catch::Contains("computed inside"));
  // The folded sums give the values of the unfolded layers, run one by one here.
  const int sum = m.net().index_of("ae2.relu1a_skip");
  const std::vector<Variable> got =
      m.net().run(x, {sum, m.net().index_of("ae2.conv1b_t"), m.net().index_of("relu1a")});
  auto& bn = dynamic_cast<nn::BatchNorm2d&>(m.net().module(m.net().index_of("ae2.conv1b_t_bn")));
  Variable want = ops::add(ops::batch_norm(got[1], bn.weight, bn.bias, nullptr, nullptr, true,
                                           bn.momentum, bn.eps, true),
                           got[2]);
  CHECK(got[0].data().to_vector() == want.data().to_vector());
  // The residual: relu2b = max(0, bn2b(conv2b) + shortcut), against the layers one by one.
  const std::vector<Variable> res = m.net().run(
      x, {m.net().index_of("relu2b"), m.net().index_of("conv2b"), m.net().index_of("pool1")});
  auto& bn2 = dynamic_cast<nn::BatchNorm2d&>(m.net().module(m.net().index_of("bn2b")));
  Variable want2 = ops::relu(ops::add(
      ops::batch_norm(res[1], bn2.weight, bn2.bias, nullptr, nullptr, true, bn2.momentum, bn2.eps),
      ops::pad_channels(res[2], 0, 64)));
  CHECK(res[0].data().to_vector() == want2.data().to_vector());
}

// Every model file trains on the CPU: forward, the SIRe loss, backward, a gradient in every
// parameter that the loss reaches.
TEST_CASE("forward and backward of every model file", "[models][slow]") {
  for (const char* f : {"baseline-cnn.json", "re-cnn.json", "i-cnn.json", "ire-cnn.json",
                        "si-cnn.json", "sire-cnn.json", "vgg16.json", "sire-vgg16.json",
                        "vgg19.json", "sire-vgg19.json", "resnet34.json", "sire-resnet34.json",
                        "resnet50.json", "sire-resnet50.json", "googlenet.json",
                        "sire-googlenet.json"}) {
    INFO(f);
    manual_seed(2);
    Model m = Model::load(model_path(f), {10, Shape{3, 32, 32}, std::nullopt, std::nullopt});
    Variable x(testing::random_tensor({2, 3, 32, 32}, DType::F32, 4));
    Tensor labels = Tensor::from_vector({2}, std::vector<int32_t>{1, 7});
    ModelOutput out = m.forward(x);
    LossParts loss = m.loss(out, x, labels);
    CHECK(std::isfinite(loss.total.data().item()));
    CHECK(loss.mse.size() == m.autoencoders().size());
    loss.total.backward();
    int64_t with_grad = 0, total = 0;
    for (auto& [name, p] : m.net().named_parameters()) {
      ++total;
      with_grad += p.has_grad();
    }
    CHECK(with_grad == total);
  }
}

TEST_CASE("finite-difference check of a tiny SIRe network (S, I and Re on)", "[models]") {
  manual_seed(5);
  Model m = Model::load(std::string(SIRE_SOURCE_DIR) + "/tests/data/models/tiny-sire.json");
  REQUIRE(m.autoencoders() == std::vector<int>{1, 2});
  m.net().to(DType::F64);
  Variable x(testing::random_tensor({3, 2, 8, 8}, DType::F64, 6));
  Tensor labels = Tensor::from_vector({3}, std::vector<int32_t>{0, 2, 1});
  auto loss_value = [&] {
    NoGradGuard g;
    return m.loss(m.forward(x), x, labels).total.data().item();
  };
  m.loss(m.forward(x), x, labels).total.backward();
  int checked = 0;
  for (auto& [name, p] : m.net().named_parameters()) {
    INFO(name);
    const std::vector<double> analytic = p.grad().to_vector();
    double* w = p.data().data<double>();
    // Every second element keeps the test fast; every parameter tensor is covered.
    for (int64_t j = 0; j < p.data().numel(); j += 2) {
      const double saved = w[j], eps = 1e-6;
      w[j] = saved + eps;
      const double plus = loss_value();
      w[j] = saved - eps;
      const double minus = loss_value();
      w[j] = saved;
      const double numeric = (plus - minus) / (2 * eps);
      CHECK(analytic[j] == Catch::Detail::Approx(numeric).epsilon(1e-4).margin(1e-7));
      ++checked;
    }
  }
  CHECK(checked > 500);
}
