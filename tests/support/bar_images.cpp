#include "tests/support/bar_images.h"

#include <fstream>
#include <vector>

#include "engine/random.h"
#include "engine/tensor.h"
#include "tests/support/data_files.h"

namespace sire::testing {

void write_bar_images(const std::string& dir, uint32_t train, uint32_t test) {
  auto make = [](uint32_t n, uint64_t seed, std::vector<uint8_t>& images, std::vector<uint8_t>& labels) {
    Tensor noise = Tensor::empty({n, 28, 28});
    Generator(seed).fill_uniform(noise, 0, 60);
    const float* z = noise.data<float>();
    images.assign(16, 0);
    labels.assign(8, 0);
    for (uint32_t i = 0; i < n; ++i) {
      const int cls = static_cast<int>((i * 7 + seed) % 10);
      labels.push_back(static_cast<uint8_t>(cls));
      for (int r = 0; r < 28; ++r)
        for (int c = 0; c < 28; ++c) {
          const bool bar = r >= 1 + cls * 26 / 10 && r < 1 + cls * 26 / 10 + 3 && c >= 4 && c < 24;
          images.push_back(static_cast<uint8_t>(z[(i * 28 + r) * 28 + c] + (bar ? 190 : 0)));
        }
    }
    auto be32 = [](std::vector<uint8_t>& v, size_t at, uint32_t x) {
      for (int k = 0; k < 4; ++k) v[at + k] = static_cast<uint8_t>(x >> (24 - 8 * k));
    };
    be32(images, 0, 0x803);
    be32(images, 4, n);
    be32(images, 8, 28);
    be32(images, 12, 28);
    be32(labels, 0, 0x801);
    be32(labels, 4, n);
  };
  std::vector<uint8_t> im, lb;
  make(train, 1, im, lb);
  write_file(dir + "/train-images-idx3-ubyte", im);
  write_file(dir + "/train-labels-idx1-ubyte", lb);
  make(test, 2, im, lb);
  write_file(dir + "/t10k-images-idx3-ubyte", im);
  write_file(dir + "/t10k-labels-idx1-ubyte", lb);
}

train::TrainOptions bar_training_options(const std::string& data, const std::string& out) {
  train::TrainOptions o;
  o.model_path = std::string(SIRE_SOURCE_DIR) + "/tests/data/models/tiny-cnn.json";
  o.data_dir = data;
  o.dataset = "mnist";
  o.protocol = train::protocol_named("paper-mnist");
  o.protocol.epochs = 3;
  o.protocol.batch = 32;
  o.protocol.lr = 0.05;
  o.protocol.train_images = -1;
  o.val_size = 160;
  o.seed = 3;
  o.out_dir = out;
  o.workers = 2;
  o.progress = false;
  return o;
}

std::vector<nlohmann::json> run_metrics(const std::string& dir) {
  std::vector<nlohmann::json> out;
  std::ifstream in(dir + "/metrics.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    nlohmann::json j = nlohmann::json::parse(line);
    j.erase("seconds");
    j.erase("images_per_s");
    out.push_back(j);
  }
  return out;
}

}  // namespace sire::testing
