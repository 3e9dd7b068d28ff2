// The IDX format of MNIST and Fashion-MNIST (LeCun et al.): a big-endian header (magic number
// 0x00000803 for images: unsigned bytes in 3 dimensions; 0x00000801 for labels: 1 dimension),
// the extents as 32-bit big-endian integers, then the bytes. Files may be gzipped or not.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace sire::data {

constexpr uint32_t kIdxImagesMagic = 0x00000803;
constexpr uint32_t kIdxLabelsMagic = 0x00000801;

struct IdxImages {
  int64_t count = 0;
  int rows = 0, cols = 0;
  std::vector<uint8_t> pixels;  // count * rows * cols, row-major
};

// Both check the magic number, the extents, and that the file holds exactly what its header
// announces (a short file is "truncated", a long one an error too); errors name the path.
IdxImages read_idx_images(const std::string& path);
std::vector<uint8_t> read_idx_labels(const std::string& path);

// One images file and its labels file as a 1-channel dataset; the counts must agree and every
// label must be below num_classes. class_names may be empty.
std::shared_ptr<InMemoryDataset> load_idx_dataset(const std::string& name,
                                                  const std::string& images_path,
                                                  const std::string& labels_path, int num_classes,
                                                  std::vector<std::string> class_names = {});

}  // namespace sire::data
