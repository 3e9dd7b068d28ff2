#include "data/cifar.h"

#include "data/file_io.h"
#include "engine/error.h"

namespace sire::data {
namespace {
constexpr int kPixels = 3 * 32 * 32;
}  // namespace

const CifarFormat& cifar_format(CifarKind kind) {
  static const CifarFormat c10{"CIFAR-10", 1, 1 + kPixels, 10, "batches.meta.txt"};
  static const CifarFormat c100{"CIFAR-100", 2, 2 + kPixels, 100, "fine_label_names.txt"};
  return kind == CifarKind::Cifar10 ? c10 : c100;
}

std::shared_ptr<InMemoryDataset> load_cifar(const std::string& name, CifarKind kind,
                                            const std::vector<std::string>& files,
                                            std::vector<std::string> class_names) {
  const CifarFormat& f = cifar_format(kind);
  const char* layout = kind == CifarKind::Cifar10
                           ? "1 label byte + 3072 pixel bytes"
                           : "1 coarse label byte + 1 fine label byte + 3072 pixel bytes";
  SIRE_CHECK(!files.empty(), name, ": no ", f.title, " files given");
  std::vector<uint8_t> pixels;
  std::vector<int32_t> labels;
  for (const std::string& path : files) {
    const std::vector<uint8_t> bytes = read_file(path);
    const size_t n = bytes.size() / static_cast<size_t>(f.record_bytes);
    const size_t rest = bytes.size() % static_cast<size_t>(f.record_bytes);
    SIRE_CHECK(!bytes.empty(), path, ": empty file, expected ", f.title, " records of ",
               f.record_bytes, " bytes");
    SIRE_CHECK(rest == 0, path, ": truncated or not a ", f.title, " file: its ", bytes.size(),
               " bytes are not a whole number of ", f.record_bytes, "-byte records (", layout,
               "): ", n, " records and ", rest, " bytes left over");
    pixels.reserve(pixels.size() + n * kPixels);
    for (size_t r = 0; r < n; ++r) {
      const uint8_t* rec = bytes.data() + r * static_cast<size_t>(f.record_bytes);
      if (kind == CifarKind::Cifar100)
        SIRE_CHECK(rec[0] < 20, path, ": record ", r, " has coarse label ", int{rec[0]},
                   ", out of range [0, 20)");
      const int label = rec[f.label_bytes - 1];  // CIFAR-100: the fine label, the second byte
      SIRE_CHECK(label < f.num_classes, path, ": record ", r, " has ",
                 kind == CifarKind::Cifar100 ? "fine label " : "label ", label,
                 ", out of range [0, ", f.num_classes, ")");
      labels.push_back(label);
      pixels.insert(pixels.end(), rec + f.label_bytes, rec + f.record_bytes);
    }
  }
  return std::make_shared<InMemoryDataset>(name, SampleShape{3, 32, 32}, std::move(pixels),
                                           std::move(labels), f.num_classes,
                                           std::move(class_names));
}

std::vector<std::string> read_class_names(const std::string& path, int expected) {
  std::vector<std::string> names = read_lines(path);
  SIRE_CHECK(static_cast<int>(names.size()) == expected, path, ": holds ", names.size(),
             " class names, expected ", expected, " (one a line)");
  return names;
}

}  // namespace sire::data
