// The binary versions of CIFAR-10 and CIFAR-100 (Krizhevsky, 2009). A file is a run of records:
// CIFAR-10: 1 label byte + 3072 pixel bytes; CIFAR-100: 1 coarse label byte, 1 fine label byte,
// 3072 pixel bytes. The pixels are 1024 red, 1024 green, 1024 blue, each 32x32 row-major: already
// CHW. CIFAR-100 is read with its FINE labels (100 classes), as the paper uses.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace sire::data {

enum class CifarKind { Cifar10, Cifar100 };

struct CifarFormat {
  const char* title;       // "CIFAR-10"
  int label_bytes;         // bytes before the pixels
  int record_bytes;        // label bytes + 3072
  int num_classes;         // of the label that is kept
  const char* names_file;  // the class-name file of the binary distribution
};
const CifarFormat& cifar_format(CifarKind kind);

// Reads the files in order and concatenates their records. Each file's size must be a whole,
// non-zero number of records, and every label in range; errors name the file and the fault.
std::shared_ptr<InMemoryDataset> load_cifar(const std::string& name, CifarKind kind,
                                            const std::vector<std::string>& files,
                                            std::vector<std::string> class_names = {});

// Class names, one a line (batches.meta.txt, fine_label_names.txt); blank lines are ignored.
// Throws when the file does not hold exactly `expected` names.
std::vector<std::string> read_class_names(const std::string& path, int expected);

}  // namespace sire::data
