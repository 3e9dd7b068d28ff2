// Pictures: the image grid's layout and colours, and `sire recon` on a checkpoint this test
// trains itself (one epoch of the tiny SIRe-CNN on generated images): the PNG decodes, has the
// size the grid implies, shows the inputs de-normalized, and the MSE it prints is the one the
// reconstructions give. A model without auto-encoders is a clear error.
#include <catch2/catch.hpp>

#include <memory>

#include "apps/commands.h"
#include "data/datasets.h"
#include "engine/backend.h"
#include "tests/support/bar_images.h"
#include "tests/support/data_files.h"
#include "train/checkpoint.h"
#include "train/evaluate.h"
#include "train/trainer.h"
#include "viz/image_grid.h"
#include "viz/reconstruct.h"

#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#include <stb/stb_image.h>

using namespace sire;
using namespace sire::testing;

namespace {

struct Png {
  int width = 0, height = 0, channels = 0;
  std::vector<uint8_t> pixels;  // as stored: `channels` bytes a pixel
};

Png read_png(const std::string& path) {
  Png p;
  std::unique_ptr<uint8_t, void (*)(void*)> data(stbi_load(path.c_str(), &p.width, &p.height, &p.channels, 0),
                                                 stbi_image_free);
  REQUIRE(data != nullptr);
  p.pixels.assign(data.get(), data.get() + size_t(p.width) * p.height * p.channels);
  return p;
}

const std::string kModels = std::string(SIRE_SOURCE_DIR) + "/tests/data/models/";

// One epoch of the tiny SIRe-CNN (two auto-encoders) on 192 generated images: about a second.
std::string train_tiny(const TempDir& tmp) {
  set_cpu_threads(1);  // a tiny model: one thread, and no waiting on cores that others hold
  write_bar_images(tmp.path(), 192, 24);
  train::TrainOptions o = bar_training_options(tmp.path(), tmp.file("run"));
  o.protocol.epochs = 1;
  o.val_size = 32;
  o.seed = 0;
  o.workers = 1;
  REQUIRE(train::train(o).complete);
  return o.out_dir + "/best.safetensors";
}

}  // namespace

TEST_CASE("an image grid lays cells out with separators, scaled and de-normalized", "[viz]") {
  viz::GridLayout l;
  l.rows = 2;
  l.cols = 3;
  l.channels = 1;
  l.cell_height = 4;
  l.cell_width = 5;
  l.scale = 3;
  l.gap = 2;
  CHECK(l.width() == 3 * 5 * 3 + 2 * 2);
  CHECK(l.height() == 2 * 4 * 3 + 2);
  viz::ImageGrid g(l);
  // Network units with mean 0.5, std 0.25: x = -2 is black, 2 is white, beyond is clamped.
  std::vector<float> img(20);
  for (int i = 0; i < 20; ++i) img[i] = -3.0f + 0.3f * float(i);
  g.draw(1, 2, img.data(), {0.5f}, {0.25f});
  const int top = 1 * (4 * 3 + 2), left = 2 * (5 * 3 + 2);
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 5; ++x)
      for (int d = 0; d < 9; ++d) {
        const int py = top + y * 3 + d / 3, px = left + x * 3 + d % 3;
        REQUIRE(g.pixels()[size_t(py) * l.width() + px] == viz::display_byte(img[y * 5 + x], 0.5f, 0.25f));
      }
  CHECK(viz::display_byte(-3.0f, 0.5f, 0.25f) == 0);
  CHECK(viz::display_byte(2.5f, 0.5f, 0.25f) == 255);
  CHECK(viz::display_byte(0.0f, 0.5f, 0.25f) == 128);
  // Separators (the row between grid rows 0 and 1, the columns left of cell column 2) are white.
  for (int x = 0; x < l.width(); ++x) CHECK(g.pixels()[size_t(12) * l.width() + x] == 255);
  for (int y = 0; y < l.height(); ++y) CHECK(g.pixels()[size_t(y) * l.width() + 16] == 255);

  SECTION("RGB cells interleave their channels") {
    viz::GridLayout c = l;
    c.channels = 3;
    c.scale = 1;
    viz::ImageGrid rgb(c);
    std::vector<float> chw(3 * 20, 0.0f);
    for (int i = 0; i < 20; ++i) chw[20 + i] = 1.0f;  // green everywhere
    rgb.draw(0, 0, chw.data(), {}, {});
    CHECK(rgb.pixels()[0] == 0);
    CHECK(rgb.pixels()[1] == 255);
    CHECK(rgb.pixels()[2] == 0);
  }
  SECTION("a PNG decodes to the same pixels") {
    TempDir tmp;
    g.write_png(tmp.file("sub/grid.png"));
    const Png p = read_png(tmp.file("sub/grid.png"));
    CHECK(p.width == l.width());
    CHECK(p.height == l.height());
    CHECK(p.channels == 1);
    CHECK(p.pixels == g.pixels());
  }
  SECTION("bad layouts and cells are errors") {
    viz::GridLayout bad = l;
    bad.channels = 2;
    CHECK_THROWS_WITH(viz::ImageGrid(bad), Catch::Contains("not 2 channels"));
    bad = l;
    bad.scale = 0;
    CHECK_THROWS_WITH(viz::ImageGrid(bad), Catch::Contains("scale"));
    CHECK_THROWS_WITH(g.draw(2, 0, img.data(), {}, {}), Catch::Contains("outside the 2 x 3 grid"));
    CHECK_THROWS_WITH(g.draw(0, 0, img.data(), {0.1f, 0.2f}, {0.3f, 0.4f}), Catch::Contains("one value per channel"));
  }
  CHECK(viz::auto_scale(32, 32) == 4);
  CHECK(viz::auto_scale(28, 28) == 5);
  CHECK(viz::auto_scale(224, 224) == 1);
}

TEST_CASE("sire recon draws a trained model's reconstructions", "[viz]") {
  TempDir tmp;
  const std::string best = train_tiny(tmp);
  const train::Checkpoint c = train::read_checkpoint(best);
  models::Model model = train::model_from_metadata(c.model, best);
  train::load_model_state(model, c.file);
  data::SplitOptions so;
  so.val_size = 32;
  const data::DatasetPtr test = data::dataset_from_dir("mnist", tmp.path(), so).test;
  const data::Transform transform = train::eval_transform(c);
  const float mean = transform.options().mean.at(0), sd = transform.options().std.at(0);

  // The reconstructions and their MSE, in network and pixel units; the batch does not matter.
  const viz::Reconstructions r = viz::reconstruct(model, *test, transform, 0, 5, Device::CPU, 2);
  REQUIRE(r.autoencoders == std::vector<int>{1, 2});
  REQUIRE(r.outputs.size() == 2);
  CHECK(r.inputs.shape() == Shape{5, 1, 32, 32});
  CHECK(r.inputs.data<float>()[0] == Approx((0.0f - mean) / sd));  // the black padding
  CHECK(model.net().is_training());  // the mode it had is restored
  for (size_t a = 0; a < 2; ++a) {
    CHECK(r.outputs[a].shape() == Shape{5, 1, 32, 32});
    double sum = 0;
    for (int64_t k = 0; k < r.inputs.numel(); ++k) {
      const double d = double(r.outputs[a].data<float>()[k]) - double(r.inputs.data<float>()[k]);
      sum += d * d;
    }
    CHECK(r.mse[a] == Approx(sum / double(r.inputs.numel())));
    CHECK(r.mse_pixels[a] == Approx(r.mse[a] * sd * sd));
  }
  const viz::Reconstructions one_batch = viz::reconstruct(model, *test, transform, 0, 5, Device::CPU);
  CHECK(one_batch.mse[1] == Approx(r.mse[1]).epsilon(1e-5));
  CHECK_THROWS_WITH(viz::reconstruct(model, *test, transform, 20, 5, Device::CPU),
                    Catch::Contains("images 20 to 24") && Catch::Contains("holds 24"));

  // The command: 5 rows of 1 + 2 cells, 32x32 at scale 2, 1-pixel separators, grey.
  const std::string png = tmp.file("out/recon.png");
  auto recon = [&](std::vector<std::string> extra) {
    std::vector<std::string> argv{"--checkpoint", best, "--data", tmp.path(), "--dataset", "mnist",
                                  "--val-size", "32", "--images", "5", "--threads", "1", "--out", png};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return app::run_recon(argv);
  };
  REQUIRE(recon({"--scale", "2", "--gap", "1"}) == 0);
  Png p = read_png(png);
  CHECK(p.width == 3 * 32 * 2 + 2 * 1);
  CHECK(p.height == 5 * 32 * 2 + 4 * 1);
  CHECK(p.channels == 1);
  // Row 3's input cell shows input 3 de-normalized; its AE2 cell shows AE2's output.
  const int64_t plane = 32 * 32;
  for (int y = 0; y < 32; ++y)
    for (int x = 0; x < 32; ++x) {
      const size_t top = size_t(3 * (64 + 1) + 2 * y), in_left = size_t(2 * x), ae2_left = size_t(2 * (64 + 1) + 2 * x);
      REQUIRE(p.pixels[top * p.width + in_left] ==
              viz::display_byte(r.inputs.data<float>()[3 * plane + y * 32 + x], mean, sd));
      REQUIRE(int(p.pixels[top * p.width + ae2_left]) ==
              Approx(viz::display_byte(r.outputs[1].data<float>()[3 * plane + y * 32 + x], mean, sd)).margin(1));
    }
  CHECK(p.pixels[size_t(64) * p.width] == 255);  // the separator under row 0

  // The default scale makes 32x32 images 128 pixels wide, with 2-pixel separators.
  REQUIRE(recon({}) == 0);
  p = read_png(png);
  CHECK(p.width == 3 * 128 + 2 * 2);
  CHECK(p.height == 5 * 128 + 4 * 2);

  // A checkpoint of a model without auto-encoders: nothing to draw, said with the file's name.
  models::Model baseline = models::Model::load(kModels + "tiny-baseline.json");
  train::save_checkpoint(tmp.file("baseline.safetensors"), baseline, nullptr, {{"data", c.extra.at("data")}});
  CHECK_THROWS_WITH(app::run_recon({"--checkpoint", tmp.file("baseline.safetensors"), "--data", tmp.path()}),
                    Catch::Contains("baseline.safetensors") && Catch::Contains("no auto-encoders"));
  CHECK_THROWS_WITH(recon({"--images", "0"}), Catch::Contains("--images must be positive"));
}
