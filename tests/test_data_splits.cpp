// dataset_from_dir: format detection, the protocol's splits (sizes, stratification, seeds,
// disjointness) on small datasets written here in the real formats.
#include <catch2/catch.hpp>

#include <algorithm>
#include <set>

#include "data/datasets.h"
#include "data/splits.h"
#include "tests/support/data_files.h"

using namespace sire;
using namespace sire::data;
using namespace sire::testing;
using Catch::Contains;

namespace {

void write_mnist(const std::string& dir, uint32_t train, uint32_t test) {
  std::vector<uint8_t> ltrain, ltest;
  for (uint32_t i = 0; i < train; ++i) ltrain.push_back(static_cast<uint8_t>(i % 10));
  for (uint32_t i = 0; i < test; ++i) ltest.push_back(static_cast<uint8_t>(i % 10));
  write_gzip(dir + "/train-images-idx3-ubyte.gz", idx_images(train, 28, 28));
  write_gzip(dir + "/train-labels-idx1-ubyte.gz", idx_labels(ltrain));
  write_file(dir + "/t10k-images-idx3-ubyte", idx_images(test, 28, 28));  // raw and gz mixed
  write_file(dir + "/t10k-labels-idx1-ubyte", idx_labels(ltest));
}

// CIFAR-10: five training files of 40 records (20 per class in all) and a test file of 30.
void write_cifar10(const std::string& dir) {
  for (int f = 0; f < 5; ++f) {
    std::vector<uint8_t> labels;
    for (int r = 0; r < 40; ++r) labels.push_back(static_cast<uint8_t>((f * 40 + r) % 10));
    write_file(dir + "/data_batch_" + std::to_string(f + 1) + ".bin",
               cifar_records(labels, {}, f * 40));
  }
  write_file(dir + "/test_batch.bin", cifar_records(std::vector<uint8_t>(30, 4)));
  write_text(dir + "/batches.meta.txt",
             "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n");
}

// Indices of a split in the underlying (whole training file) dataset.
std::vector<int64_t> base_indices(const DatasetPtr& d) {
  auto s = std::dynamic_pointer_cast<const Subset>(d);
  REQUIRE(s);
  return s->indices();
}

std::vector<int64_t> per_class(const Dataset& d) { return class_histogram(d); }

}  // namespace

TEST_CASE("MNIST-format splits: last images of the training file validate", "[data][splits]") {
  TempDir dir;
  write_mnist(dir.path(), 120, 30);
  SplitOptions o;
  o.val_size = 20;
  DatasetSplits s = dataset_from_dir("auto", dir.path(), o);
  CHECK(s.name == "mnist");
  CHECK(s.train->size() == 100);
  CHECK(s.val->size() == 20);
  CHECK(s.test->size() == 30);
  CHECK(base_indices(s.train) == index_range(0, 100));
  CHECK(base_indices(s.val) == index_range(100, 120));
  CHECK(s.train->class_names()[3] == "3");

  o.train_limit = 64;  // the paper keeps only the first 1,280 training images
  DatasetSplits limited = dataset_from_dir("mnist", dir.path(), o);
  CHECK(base_indices(limited.train) == index_range(0, 64));
  CHECK(limited.val->size() == 20);
  o.train_limit = 101;
  CHECK_THROWS_WITH(dataset_from_dir("mnist", dir.path(), o),
                    Contains("first 101 training samples but the training split has 100"));
  CHECK_THROWS_WITH(dataset_from_dir("mnist", dir.path()),  // the default: the last 10,000
                    Contains("train-images-idx3-ubyte.gz: holds 120 images, too few to keep the "
                             "last 10000 for validation"));
  SplitOptions none;
  none.val_size = 0;
  DatasetSplits all = dataset_from_dir("mnist", dir.path(), none);
  CHECK(all.train->size() == 120);
  CHECK(all.val == nullptr);
  CHECK_THROWS_WITH(all.get("val"), Contains("mnist: has no val split"));

  const std::string fashion = dir.mkdir("Fashion-MNIST");
  write_mnist(fashion, 20, 10);
  CHECK(detect_dataset(fashion) == "fashion-mnist");
  o.train_limit = -1;
  o.val_size = 5;
  CHECK(dataset_from_dir("", fashion, o).test->class_names()[0] == "T-shirt/top");
}

TEST_CASE("CIFAR-10 validation: stratified, seeded, disjoint", "[data][splits]") {
  TempDir dir;
  const std::string inner = dir.mkdir("cifar-10-batches-bin");  // as the archive unpacks
  write_cifar10(inner);
  SplitOptions o;
  o.val_size = 50;
  o.seed = 11;
  DatasetSplits s = dataset_from_dir("auto", dir.path(), o);
  CHECK(s.name == "cifar10");
  CHECK(s.source == inner);
  CHECK(s.train->size() == 150);
  CHECK(s.val->size() == 50);
  CHECK(s.test->size() == 30);
  CHECK(s.train->class_names()[9] == "truck");
  CHECK(per_class(*s.val) == std::vector<int64_t>(10, 5));
  CHECK(per_class(*s.train) == std::vector<int64_t>(10, 15));

  std::vector<int64_t> tr = base_indices(s.train), va = base_indices(s.val);
  CHECK(std::is_sorted(tr.begin(), tr.end()));
  CHECK(std::is_sorted(va.begin(), va.end()));
  std::set<int64_t> all(tr.begin(), tr.end());
  all.insert(va.begin(), va.end());
  CHECK(all.size() == 200);  // disjoint, and together the whole training set
  CHECK(*all.rbegin() == 199);

  DatasetSplits again = dataset_from_dir("cifar10", inner, o);
  CHECK(base_indices(again.val) == va);
  o.seed = 12;
  CHECK(base_indices(dataset_from_dir("cifar10", inner, o).val) != va);

  o.train_limit = 20;
  DatasetSplits limited = dataset_from_dir("cifar10", inner, o);
  CHECK(limited.train->size() == 20);
  o.train_limit = -1;
  o.val_size = 55;
  CHECK_THROWS_WITH(dataset_from_dir("cifar10", inner, o),
                    Contains("55 images is not a whole number per class (10 classes)"));
}

TEST_CASE("CIFAR-100 validation draws per fine class", "[data][splits]") {
  TempDir dir;
  std::vector<uint8_t> fine, coarse;
  for (int r = 0; r < 300; ++r) {
    fine.push_back(static_cast<uint8_t>(r % 100));
    coarse.push_back(static_cast<uint8_t>((r % 100) / 5));
  }
  write_file(dir.file("train.bin"), cifar_records(fine, coarse));
  write_file(dir.file("test.bin"), cifar_records({1, 2, 3}, {0, 0, 0}));
  SplitOptions o;
  o.val_size = 100;
  DatasetSplits s = dataset_from_dir("auto", dir.path(), o);
  CHECK(s.name == "cifar100");
  CHECK(s.train->num_classes() == 100);
  CHECK(s.val->size() == 100);
  CHECK(per_class(*s.val) == std::vector<int64_t>(100, 1));
  CHECK(per_class(*s.train) == std::vector<int64_t>(100, 2));
  CHECK(s.train->class_names().empty());  // no fine_label_names.txt here
  o.val_size = 300;
  CHECK_THROWS_WITH(dataset_from_dir("cifar100", dir.path(), o),
                    Contains("class 0 has 3 samples; drawing 3 per class needs at least 4"));
}

TEST_CASE("Caltech-256 layout: 70/30 inside every class, no validation", "[data][splits]") {
  TempDir dir;
  const int counts[3] = {10, 11, 13};
  for (int c = 0; c < 3; ++c) {
    const std::string cls = dir.mkdir("256_ObjectCategories/00" + std::to_string(c + 1) + ".c");
    for (int i = 0; i < counts[c]; ++i)
      write_png(cls + "/" + std::to_string(100 + i) + ".png", 4, 4, 1,
                std::vector<uint8_t>(16, static_cast<uint8_t>(i)));
  }
  SplitOptions o;
  o.image_size = 8;
  o.seed = 5;
  DatasetSplits s = dataset_from_dir("auto", dir.path(), o);
  CHECK(s.name == "caltech256");
  CHECK(s.train->sample_shape() == data::SampleShape{3, 8, 8});
  CHECK(s.test->size() == 9);  // floor(0.3 * n) of each class: 3, 3, 3
  CHECK(s.train->size() == 25);
  CHECK(per_class(*s.test) == std::vector<int64_t>{3, 3, 3});
  CHECK(s.val == nullptr);
  CHECK_THROWS_WITH(s.get("val"),
                    Contains("caltech256: has no val split") && Contains("best training epoch"));
  std::vector<int64_t> te = base_indices(s.test);
  CHECK(base_indices(dataset_from_dir("caltech256", dir.path(), o).test) == te);
  o.seed = 6;
  CHECK(base_indices(dataset_from_dir("caltech256", dir.path(), o).test) != te);
  o.val_size = 10;
  CHECK_THROWS_WITH(dataset_from_dir("caltech256", dir.path(), o),
                    Contains("has no validation split"));
}

TEST_CASE("unknown folders and names list what was expected", "[data][splits][errors]") {
  TempDir dir;
  dir.mkdir("cifar-10-batches-py");  // the Python version: not what the reader takes
  write_text(dir.file("readme.html"), "");
  CHECK_THROWS_WITH(detect_dataset(dir.path()),
                    Contains("cannot tell which dataset this is") &&
                        Contains("train-images-idx3-ubyte") && Contains("data_batch_1.bin") &&
                        Contains("train.bin, test.bin") && Contains("001.ak47/001_0001.jpg") &&
                        Contains("holds: cifar-10-batches-py/, readme.html"));
  CHECK_THROWS_WITH(dataset_from_dir("imagenet", dir.path()),
                    Contains("unknown dataset 'imagenet'") && Contains("fashion-mnist") &&
                        Contains("caltech256"));
  write_file(dir.file("data_batch_1.bin"), cifar_records({1}));
  write_file(dir.file("data_batch_2.bin"), cifar_records({1}));
  CHECK_THROWS_WITH(dataset_from_dir("cifar10", dir.path()),
                    Contains("cifar10: missing data_batch_3.bin"));
  write_file(dir.file("train-images-idx3-ubyte"), idx_images(3, 2, 2));
  CHECK_THROWS_WITH(dataset_from_dir("fashion-mnist", dir.path()),
                    Contains("fashion-mnist: missing train-labels-idx1-ubyte[.gz]"));
  CHECK_THROWS_WITH(detect_dataset(dir.file("absent")), Contains("absent: not a folder"));
}

TEST_CASE("split helpers are seeded and exact", "[data][splits]") {
  CHECK(seeded_permutation(100, 3, kSplitStream) == seeded_permutation(100, 3, kSplitStream));
  CHECK(seeded_permutation(100, 3, kSplitStream) != seeded_permutation(100, 3, kSplitStream + 1));
  CHECK(seeded_permutation(100, 3, kSplitStream) != seeded_permutation(100, 4, kSplitStream));
  std::vector<int32_t> labels;
  for (int i = 0; i < 57; ++i) labels.push_back(i % 3 == 0 ? 0 : 1);  // 19 and 38
  InMemoryDataset d("d", SampleShape{1, 1, 1}, std::vector<uint8_t>(57), labels, 2);
  IndexSplit s = stratified_split_percent(d, 30, 1);
  CHECK(s.drawn.size() == 5 + 11);  // floor(5.7) + floor(11.4)
  CHECK(s.kept.size() == 57 - 16);
}
