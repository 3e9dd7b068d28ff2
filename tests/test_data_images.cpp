// The image-folder reader (Caltech-256's layout) on PNG and JPEG files written here.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "data/file_io.h"
#include "data/image_folder.h"
#include "data/resize.h"
#include "tests/support/data_files.h"

using namespace sire;
using namespace sire::data;
using namespace sire::testing;
using Catch::Contains;

namespace {

std::vector<uint8_t> solid(int w, int h, std::vector<uint8_t> colour) {
  std::vector<uint8_t> px;
  for (int i = 0; i < w * h; ++i) px.insert(px.end(), colour.begin(), colour.end());
  return px;
}

// A small tree: 001.alpha with an exact 224x224 RGB PNG and a grey PNG to be resized; 002.beta
// with a solid JPEG, an RGBA PNG and a two-colour JPEG; plus files and folders to be skipped.
void write_tree(const TempDir& dir) {
  const std::string a = dir.mkdir("root/001.alpha"), b = dir.mkdir("root/002.beta");
  std::vector<uint8_t> exact(224 * 224 * 3);
  for (size_t j = 0; j < exact.size(); ++j) exact[j] = test_pixel(0, static_cast<int64_t>(j));
  write_png(a + "/a_224.png", 224, 224, 3, exact);
  std::vector<uint8_t> grey(50 * 40);
  for (int y = 0; y < 40; ++y)
    for (int x = 0; x < 50; ++x) grey[y * 50 + x] = static_cast<uint8_t>(x * 5);
  write_png(a + "/b_grey.PNG", 50, 40, 1, grey);
  write_jpeg(b + "/c_solid.jpg", 300, 200, 3, solid(300, 200, {200, 100, 50}));
  write_png(b + "/d_rgba.png", 224, 224, 4, solid(224, 224, {10, 20, 30, 0}));
  std::vector<uint8_t> halves;
  for (int y = 0; y < 224; ++y)
    for (int x = 0; x < 448; ++x) {
      const bool left = x < 224;
      halves.insert(halves.end(), {uint8_t(left ? 230 : 20), 20, uint8_t(left ? 20 : 230)});
    }
  write_jpeg(b + "/e_halves.jpeg", 448, 224, 3, halves);
  write_text(b + "/readme.txt", "not an image");
  dir.mkdir("root/002.beta/nested");
  write_png(dir.file("root/002.beta/nested/x.png"), 2, 2, 1, {1, 2, 3, 4});
  write_text(dir.file("root/LICENSE"), "a file beside the class folders");
}

}  // namespace

TEST_CASE("resize: identity, bilinear up, antialiased down", "[data][images]") {
  std::vector<uint8_t> img(7 * 5 * 3), out(7 * 5 * 3);
  for (size_t j = 0; j < img.size(); ++j) img[j] = test_pixel(1, static_cast<int64_t>(j));
  resize_bilinear_hwc_to_chw(img.data(), 7, 5, 3, out.data(), 7, 5);  // same size: exact
  for (int c = 0; c < 3; ++c)
    for (int p = 0; p < 35; ++p) REQUIRE(out[c * 35 + p] == img[p * 3 + c]);

  // Enlarging is bilinear between pixel centres, edges clamped: [0, 100] -> [0, 25, 75, 100].
  const std::vector<uint8_t> two{0, 100};
  std::vector<uint8_t> four(4);
  resize_bilinear_hwc_to_chw(two.data(), 2, 1, 1, four.data(), 4, 1);
  CHECK(four == std::vector<uint8_t>{0, 25, 75, 100});

  // Halving: weights 1/8, 3/8, 3/8, 1/8 over four columns, so alternating 0/200 columns average
  // to 100 instead of aliasing; at the edge the missing tap is dropped: 200 * 3/7 -> 86.
  std::vector<uint8_t> stripes(16 * 2), half(8 * 1);
  for (int y = 0; y < 2; ++y)
    for (int x = 0; x < 16; ++x) stripes[y * 16 + x] = x % 2 ? 200 : 0;
  resize_bilinear_hwc_to_chw(stripes.data(), 16, 2, 1, half.data(), 8, 1);
  CHECK(half == std::vector<uint8_t>{86, 100, 100, 100, 100, 100, 100, 114});

  // A size where the third-party filter asserted (300x200 -> 224x224): a solid colour stays put.
  std::vector<uint8_t> big = solid(300, 200, {200, 100, 50}), small(3 * 224 * 224);
  resize_bilinear_hwc_to_chw(big.data(), 300, 200, 3, small.data(), 224, 224);
  for (int c = 0; c < 3; ++c)
    for (int p = 0; p < 224 * 224; p += 97) REQUIRE(small[c * 224 * 224 + p] == big[c]);
}

TEST_CASE("image folders: classes, PNG and JPEG, grey and RGBA made RGB, 224x224",
          "[data][images]") {
  TempDir dir;
  write_tree(dir);
  ImageFolderDataset d("caltech-like", dir.file("root"));
  CHECK(d.num_classes() == 2);
  CHECK(d.class_names() == std::vector<std::string>{"alpha", "beta"});
  CHECK(d.class_folders() == std::vector<std::string>{"001.alpha", "002.beta"});
  REQUIRE(d.size() == 5);
  CHECK(d.sample_shape() == SampleShape{3, 224, 224});
  const std::vector<int32_t> labels{0, 0, 1, 1, 1};
  for (int64_t i = 0; i < 5; ++i) CHECK(d.label(i) == labels[static_cast<size_t>(i)]);
  CHECK(d.path(1) == dir.file("root/001.alpha/b_grey.PNG"));

  const int64_t plane = 224 * 224;
  std::vector<uint8_t> px(static_cast<size_t>(3 * plane));
  int32_t label = -1;
  auto at = [&](int c, int y, int x) {
    return int{px[static_cast<size_t>(c * plane + y * 224 + x)]};
  };

  d.load(0, px.data(), &label);  // already 224x224: no resize, exact, HWC -> CHW
  CHECK(label == 0);
  bool exact = true;
  for (int64_t p = 0; p < plane; ++p)
    for (int c = 0; c < 3; ++c)
      exact = exact && px[static_cast<size_t>(c * plane + p)] == test_pixel(0, p * 3 + c);
  CHECK(exact);

  d.load(1, px.data(), &label);  // grey 50x40 -> RGB 224x224: equal channels, still a ramp
  bool equal = true;
  for (int64_t p = 0; p < plane; ++p)
    equal = equal && px[static_cast<size_t>(p)] == px[static_cast<size_t>(plane + p)] &&
            px[static_cast<size_t>(p)] == px[static_cast<size_t>(2 * plane + p)];
  CHECK(equal);
  CHECK(at(0, 100, 5) < at(0, 100, 110));
  CHECK(at(0, 100, 110) < at(0, 100, 218));

  d.load(2, px.data(), &label);  // solid JPEG 300x200 -> 224x224 keeps its colour
  CHECK(label == 1);
  int worst = 0;
  for (int y = 0; y < 224; y += 7)
    for (int x = 0; x < 224; x += 7)
      worst = std::max({worst, std::abs(at(0, y, x) - 200), std::abs(at(1, y, x) - 100),
                        std::abs(at(2, y, x) - 50)});
  CHECK(worst <= 4);

  d.load(3, px.data(), &label);  // RGBA: alpha dropped, colour kept as it is
  CHECK((at(0, 50, 50) == 10 && at(1, 50, 50) == 20 && at(2, 50, 50) == 30));

  d.load(4, px.data(), &label);  // 448 wide -> 224: the left half stays red, the right blue
  CHECK(at(0, 112, 30) > 200);
  CHECK(at(2, 112, 30) < 50);
  CHECK(at(0, 112, 190) < 50);
  CHECK(at(2, 112, 190) > 200);

  ImageFolderDataset grey("grey", dir.file("root"), ImageFolderOptions{16, 24, 1});
  CHECK(grey.sample_shape() == SampleShape{1, 16, 24});
  std::vector<uint8_t> small(16 * 24);
  grey.load(2, small.data(), &label);
  CHECK(std::abs(int{small[100]} - (77 * 200 + 150 * 100 + 29 * 50) / 256) <= 4);  // stb's luma
}

TEST_CASE("image folder errors name the file or folder", "[data][images][errors]") {
  TempDir dir;
  const std::string a = dir.mkdir("root/001.alpha");
  write_png(a + "/good.png", 4, 4, 3, solid(4, 4, {1, 2, 3}));
  write_text(a + "/bad.jpg", "this is not a JPEG");
  write_file(a + "/empty.png", {});
  write_png(a + "/whole.png", 64, 64, 3, solid(64, 64, {9, 8, 7}));
  std::vector<uint8_t> png = read_raw_file(a + "/whole.png");
  png.resize(png.size() / 2);
  write_file(a + "/truncated.png", png);

  ImageFolderDataset d("x", dir.file("root"));
  REQUIRE(d.size() == 5);  // bad.jpg, empty.png, good.png, truncated.png, whole.png
  std::vector<uint8_t> px(3 * 224 * 224);
  int32_t label;
  CHECK_THROWS_WITH(d.load(0, px.data(), &label),
                    Contains("001.alpha/bad.jpg: cannot decode image"));
  CHECK_THROWS_WITH(d.load(1, px.data(), &label),
                    Contains("empty.png: cannot decode image: the file is empty"));
  CHECK_NOTHROW(d.load(2, px.data(), &label));
  CHECK_THROWS_WITH(d.load(3, px.data(), &label), Contains("truncated.png: cannot decode image"));
  std::remove((a + "/whole.png").c_str());  // listed, then gone: the error names it
  CHECK_THROWS_WITH(d.load(4, px.data(), &label), Contains("whole.png: cannot open"));

  dir.mkdir("root/002.beta");
  write_text(dir.file("root/002.beta/notes.txt"), "no images here");
  CHECK_THROWS_WITH(ImageFolderDataset("x", dir.file("root")),
                    Contains("root/002.beta: empty class folder"));
  dir.mkdir("bare");
  write_png(dir.file("bare/loose.png"), 2, 2, 1, {1, 2, 3, 4});
  CHECK_THROWS_WITH(ImageFolderDataset("x", dir.file("bare")), Contains("bare: no class folders"));
  CHECK_THROWS_WITH(ImageFolderDataset("x", dir.file("nowhere")),
                    Contains("nowhere: not a folder"));
}
