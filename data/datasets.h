// The paper's datasets by name, read from a folder and cut into the protocol's splits
// (docs/data.md has the details and the reasons):
//   mnist, fashion-mnist  train = the first 50,000 images of the training file, val = its last
//                         10,000, test = the official test file; train_limit keeps only the first
//                         n training images (the paper's protocol: 1,280).
//   cifar10, cifar100     val = 500 (CIFAR-10) / 50 (CIFAR-100) images per class drawn from the
//                         training files with the seed, train = the other 45,000, test = official.
//   caltech256            train/test = 70/30 inside every class, drawn with the seed; no val
//                         (the paper keeps the best training epoch).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace sire::data {

struct SplitOptions {
  uint64_t seed = 0;         // the stratified draws (CIFAR validation, Caltech train/test)
  int64_t train_limit = -1;  // > 0: keep only the first n samples of the training split
  int64_t val_size = -1;     // -1: the protocol's (10,000 MNIST; 5,000 CIFAR); 0: no val split
  int test_percent = 30;     // Caltech-256: share of each class that goes to test
  int image_size = 224;      // Caltech-256: images are resized to image_size x image_size
};

struct DatasetSplits {
  std::string name;    // canonical: "mnist", "fashion-mnist", "cifar10", "cifar100", "caltech256"
  std::string source;  // the folder the files were read from
  DatasetPtr train, val, test;  // val is null when there is none (Caltech-256, or val_size 0)
  // "train", "val" or "test"; asking for a split that does not exist is an error.
  DatasetPtr get(const std::string& split) const;
};

// name: one of known_datasets(), or "" / "auto" to tell the format from the files in dir. The
// folder may also be the one a dataset's archive unpacks into (cifar-10-batches-bin,
// cifar-100-binary, 256_ObjectCategories) or its parent. Missing files are an error that lists
// the files expected.
DatasetSplits dataset_from_dir(const std::string& name, const std::string& dir,
                               const SplitOptions& options = {});

// The dataset whose files are in dir (MNIST-format files count as "fashion-mnist" when the
// folder's path mentions "fashion", "mnist" otherwise: the files themselves cannot tell).
// Throws, listing every layout it knows and what the folder holds, when none fits.
std::string detect_dataset(const std::string& dir);

std::vector<std::string> known_datasets();

}  // namespace sire::data
