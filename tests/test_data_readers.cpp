// The IDX and CIFAR readers on files written here in the real formats: round trips, and every
// malformed file giving an error that names the file and the fault.
#include <catch2/catch.hpp>

#include "data/cifar.h"
#include "data/datasets.h"
#include "data/file_io.h"
#include "data/idx.h"
#include "data/transform.h"
#include "tests/support/data_files.h"

using namespace sire;
using namespace sire::data;
using namespace sire::testing;
using Catch::Contains;

namespace {

// Every sample of an IDX dataset written with idx_images / labels (i * 3) % 10.
void check_idx_round_trip(const Dataset& d, int64_t count, int rows, int cols) {
  REQUIRE(d.size() == count);
  CHECK(d.sample_shape() == SampleShape{1, rows, cols});
  CHECK(d.num_classes() == 10);
  std::vector<uint8_t> buf(static_cast<size_t>(rows * cols));
  for (int64_t i = 0; i < count; ++i) {
    int32_t label = -1;
    d.load(i, buf.data(), &label);
    CHECK(label == (i * 3) % 10);
    CHECK(d.label(i) == label);
    for (int64_t j = 0; j < rows * cols; ++j)
      REQUIRE(buf[static_cast<size_t>(j)] == test_pixel(i, j));
  }
}

std::vector<uint8_t> labels_times_3(int64_t count) {
  std::vector<uint8_t> l;
  for (int64_t i = 0; i < count; ++i) l.push_back(static_cast<uint8_t>((i * 3) % 10));
  return l;
}

}  // namespace

TEST_CASE("IDX files round trip, raw and gzipped", "[data][idx]") {
  TempDir dir;
  write_file(dir.file("img"), idx_images(7, 5, 3));
  write_file(dir.file("lbl"), idx_labels(labels_times_3(7)));
  check_idx_round_trip(*load_idx_dataset("raw", dir.file("img"), dir.file("lbl"), 10), 7, 5, 3);

  write_gzip(dir.file("img.gz"), idx_images(9, 4, 6));
  write_gzip(dir.file("lbl.gz"), idx_labels(labels_times_3(9)));
  auto gz = load_idx_dataset("gz", dir.file("img.gz"), dir.file("lbl.gz"), 10);
  check_idx_round_trip(*gz, 9, 4, 6);
  IdxImages direct = read_idx_images(dir.file("img.gz"));
  CHECK(direct.count == 9);
  CHECK(direct.rows == 4);
  CHECK(direct.cols == 6);
  CHECK(read_idx_labels(dir.file("lbl.gz")) == labels_times_3(9));
}

TEST_CASE("malformed IDX files are named with their fault", "[data][idx][errors]") {
  TempDir dir;
  write_file(dir.file("labels-idx1"), idx_labels(labels_times_3(4)));
  write_file(dir.file("images-idx3"), idx_images(4, 2, 2));

  SECTION("wrong magic number") {
    CHECK_THROWS_WITH(read_idx_images(dir.file("labels-idx1")),
                      Contains("labels-idx1") && Contains("wrong magic number 0x00000801") &&
                          Contains("expected 0x00000803") && Contains("labels file"));
    CHECK_THROWS_WITH(read_idx_labels(dir.file("images-idx3")),
                      Contains("images-idx3") && Contains("wrong magic number 0x00000803") &&
                          Contains("expected 0x00000801"));
    write_file(dir.file("junk"), {'P', 'K', 3, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
    CHECK_THROWS_WITH(read_idx_images(dir.file("junk")),
                      Contains("junk") && Contains("wrong magic") && Contains("not an IDX file"));
  }
  SECTION("truncated files, raw and gzipped") {
    std::vector<uint8_t> bytes = idx_images(5, 4, 3);  // 16 + 60 bytes
    bytes.resize(30);
    write_file(dir.file("short-images"), bytes);
    CHECK_THROWS_WITH(read_idx_images(dir.file("short-images")),
                      Contains("short-images: truncated: header says 5 images of 4x3") &&
                          Contains("ends after 30 bytes"));
    write_gzip(dir.file("short-images.gz"), bytes);
    CHECK_THROWS_WITH(
        read_idx_images(dir.file("short-images.gz")),
        Contains("short-images.gz: truncated") && Contains("ends after 30 bytes (decompressed)"));
    std::vector<uint8_t> header_only = idx_images(5, 4, 3);
    header_only.resize(10);
    write_file(dir.file("header-cut"), header_only);
    CHECK_THROWS_WITH(read_idx_images(dir.file("header-cut")),
                      Contains("header-cut: truncated") && Contains("16-byte header"));
    std::vector<uint8_t> labels = idx_labels(labels_times_3(20));
    labels.resize(15);
    write_file(dir.file("short-labels"), labels);
    CHECK_THROWS_WITH(read_idx_labels(dir.file("short-labels")),
                      Contains("short-labels: truncated: header says 20 labels"));
    // A gzip stream cut in the middle (a download that stopped).
    write_gzip(dir.file("whole.gz"), idx_images(50, 28, 28));
    std::vector<uint8_t> gz = read_raw_file(dir.file("whole.gz"));
    gz.resize(gz.size() / 2);
    write_file(dir.file("cut.gz"), gz);
    CHECK_THROWS_WITH(read_idx_images(dir.file("cut.gz")),
                      Contains("cut.gz: truncated") && Contains("gzip stream ends early"));
    gz = read_raw_file(dir.file("whole.gz"));
    for (size_t i = 100; i < 200; ++i) gz[i] ^= 0x5a;
    write_file(dir.file("corrupt.gz"), gz);
    CHECK_THROWS_WITH(read_idx_images(dir.file("corrupt.gz")),
                      Contains("corrupt.gz: corrupt gzip data ("));
  }
  SECTION("extra bytes, zero counts, missing files") {
    std::vector<uint8_t> bytes = idx_images(2, 2, 2);
    bytes.push_back(0);
    write_file(dir.file("long"), bytes);
    CHECK_THROWS_WITH(read_idx_images(dir.file("long")),
                      Contains("long: ") && Contains("1 bytes too many"));
    write_file(dir.file("none"), idx_images(0, 2, 2));
    CHECK_THROWS_WITH(read_idx_images(dir.file("none")), Contains("none: header says 0 images"));
    CHECK_THROWS_WITH(read_idx_images(dir.file("absent.gz")),
                      Contains("absent.gz: cannot open") && Contains("No such file"));
  }
  SECTION("image and label counts must agree") {
    write_file(dir.file("five-labels"), idx_labels(labels_times_3(5)));
    CHECK_THROWS_WITH(load_idx_dataset("x", dir.file("images-idx3"), dir.file("five-labels"), 10),
                      Contains("images-idx3 has 4 images") &&
                          Contains("five-labels has 5 labels") && Contains("counts differ"));
  }
  SECTION("labels out of range") {
    write_file(dir.file("bad-labels"), idx_labels({1, 2, 12, 3}));
    CHECK_THROWS_WITH(load_idx_dataset("x", dir.file("images-idx3"), dir.file("bad-labels"), 10),
                      Contains("bad-labels: label 12 of image 2 is out of range [0, 10)"));
  }
}

TEST_CASE("CIFAR-10 and CIFAR-100 binaries round trip", "[data][cifar]") {
  TempDir dir;
  write_file(dir.file("a.bin"), cifar_records({3, 9, 0}, {}, 0));
  write_file(dir.file("b.bin"), cifar_records({7, 1}, {}, 3));
  auto c10 = load_cifar("c10", CifarKind::Cifar10, {dir.file("a.bin"), dir.file("b.bin")});
  REQUIRE(c10->size() == 5);
  CHECK(c10->sample_shape() == SampleShape{3, 32, 32});
  CHECK(c10->num_classes() == 10);
  const std::vector<int32_t> want10{3, 9, 0, 7, 1};
  std::vector<uint8_t> buf(3072);
  for (int64_t i = 0; i < 5; ++i) {
    int32_t label = -1;
    c10->load(i, buf.data(), &label);
    CHECK(label == want10[static_cast<size_t>(i)]);
    for (int j = 0; j < 3072; ++j) REQUIRE(buf[static_cast<size_t>(j)] == test_pixel(i, j));
  }

  // CIFAR-100: the FINE label (second byte) is the class.
  write_file(dir.file("train.bin"), cifar_records({87, 0, 99}, {19, 4, 0}));
  auto c100 = load_cifar("c100", CifarKind::Cifar100, {dir.file("train.bin")});
  REQUIRE(c100->size() == 3);
  CHECK(c100->num_classes() == 100);
  CHECK(c100->label(0) == 87);
  CHECK(c100->label(1) == 0);
  CHECK(c100->label(2) == 99);
  int32_t label = -1;
  c100->load(2, buf.data(), &label);
  CHECK(label == 99);
  for (int j = 0; j < 3072; ++j) REQUIRE(buf[static_cast<size_t>(j)] == test_pixel(2, j));

  write_text(dir.file("names.txt"),
             "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\n"
             "ship\ntruck\n\n");
  CHECK(read_class_names(dir.file("names.txt"), 10)[9] == "truck");
}

TEST_CASE("malformed CIFAR files are named with their fault", "[data][cifar][errors]") {
  TempDir dir;
  std::vector<uint8_t> bytes = cifar_records({1, 2, 3});
  bytes.resize(2 * 3073 + 100);
  write_file(dir.file("data_batch_2.bin"), bytes);
  CHECK_THROWS_WITH(load_cifar("c", CifarKind::Cifar10, {dir.file("data_batch_2.bin")}),
                    Contains("data_batch_2.bin: truncated or not a CIFAR-10 file") &&
                        Contains("6246 bytes") && Contains("3073-byte records") &&
                        Contains("2 records and 100 bytes left over"));
  // A CIFAR-10 file read as CIFAR-100 has the wrong record size too.
  write_file(dir.file("ten.bin"), cifar_records({1, 2}));
  CHECK_THROWS_WITH(load_cifar("c", CifarKind::Cifar100, {dir.file("ten.bin")}),
                    Contains("ten.bin") && Contains("3074-byte records"));
  write_file(dir.file("empty.bin"), {});
  CHECK_THROWS_WITH(load_cifar("c", CifarKind::Cifar10, {dir.file("empty.bin")}),
                    Contains("empty.bin: empty file"));

  write_file(dir.file("test_batch.bin"), cifar_records({1, 10, 2}));
  CHECK_THROWS_WITH(load_cifar("c", CifarKind::Cifar10, {dir.file("test_batch.bin")}),
                    Contains("test_batch.bin: record 1 has label 10, out of range [0, 10)"));
  write_file(dir.file("test.bin"), cifar_records({5, 100}, {1, 2}));
  CHECK_THROWS_WITH(load_cifar("c", CifarKind::Cifar100, {dir.file("test.bin")}),
                    Contains("test.bin: record 1 has fine label 100, out of range [0, 100)"));
  write_file(dir.file("coarse.bin"), cifar_records({5}, {20}));
  CHECK_THROWS_WITH(load_cifar("c", CifarKind::Cifar100, {dir.file("coarse.bin")}),
                    Contains("coarse.bin: record 0 has coarse label 20"));

  write_text(dir.file("batches.meta.txt"), "airplane\nautomobile\n");
  CHECK_THROWS_WITH(read_class_names(dir.file("batches.meta.txt"), 10),
                    Contains("batches.meta.txt: holds 2 class names, expected 10"));
}

// The real Fashion-MNIST of the Debian package, when it is installed.
TEST_CASE("real Fashion-MNIST reads with its known counts", "[data][idx][real]") {
  const std::string dir = "/usr/share/datasets/fashion-mnist";
  if (!is_directory(dir)) {
    WARN("Fashion-MNIST not found at " << dir << ": skipped");
    return;
  }
  CHECK(detect_dataset(dir) == "fashion-mnist");
  DatasetSplits s = dataset_from_dir("auto", dir);
  CHECK(s.name == "fashion-mnist");
  CHECK(s.train->size() == 50000);
  CHECK(s.val->size() == 10000);
  CHECK(s.test->size() == 10000);
  CHECK(s.train->class_names()[9] == "Ankle boot");

  auto subset = std::dynamic_pointer_cast<const Subset>(s.train);
  REQUIRE(subset);
  const Dataset& full = *subset->base();  // the whole official training file
  CHECK(full.size() == 60000);
  CHECK(full.sample_shape() == SampleShape{1, 28, 28});
  CHECK(full.num_classes() == 10);
  for (int64_t n : class_histogram(full)) CHECK(n == 6000);
  for (int64_t n : class_histogram(*s.test)) CHECK(n == 1000);

  // The usual statistics of Fashion-MNIST's training images: mean 0.2860, std 0.3530.
  ChannelStats st = compute_channel_stats(full);
  CHECK(st.mean[0] == Approx(0.2860).margin(5e-4));
  CHECK(st.std[0] == Approx(0.3530).margin(5e-4));
}
