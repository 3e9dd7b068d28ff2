#include "data/datasets.h"

#include <algorithm>
#include <cctype>

#include "data/cifar.h"
#include "data/file_io.h"
#include "data/idx.h"
#include "data/image_decode.h"
#include "data/image_folder.h"
#include "data/splits.h"
#include "engine/error.h"

namespace sire::data {
namespace {

const char* const kIdxFiles[4] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                  "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};

// "train-images-idx3-ubyte", its ".gz", or the "train-images.idx3-ubyte" spelling some mirrors
// use; "" when none is there.
std::string find_idx_file(const std::string& dir, const std::string& base) {
  std::string dotted = base;
  dotted[dotted.find("-idx")] = '.';
  for (const std::string& name : {base, base + ".gz", dotted, dotted + ".gz"})
    if (is_file(join_path(dir, name))) return join_path(dir, name);
  return "";
}

bool has_all(const std::string& dir, const std::vector<std::string>& names) {
  return std::all_of(names.begin(), names.end(),
                     [&](const std::string& n) { return is_file(join_path(dir, n)); });
}

const std::vector<std::string>& cifar10_files() {
  static const std::vector<std::string> f{"data_batch_1.bin", "data_batch_2.bin",
                                          "data_batch_3.bin", "data_batch_4.bin",
                                          "data_batch_5.bin", "test_batch.bin"};
  return f;
}
const std::vector<std::string>& cifar100_files() {
  static const std::vector<std::string> f{"train.bin", "test.bin"};
  return f;
}

// The folder holding a dataset's files: dir itself or the folder its archive unpacks into.
std::string locate(const std::string& dir, const std::string& archive_folder,
                   bool (*holds)(const std::string&)) {
  if (holds(dir)) return dir;
  const std::string inner = join_path(dir, archive_folder);
  return holds(inner) ? inner : "";
}

bool holds_idx(const std::string& d) { return !find_idx_file(d, kIdxFiles[0]).empty(); }
bool holds_cifar10(const std::string& d) { return is_file(join_path(d, "data_batch_1.bin")); }
bool holds_cifar100(const std::string& d) { return has_all(d, cifar100_files()); }
// Image folders: a sub-folder among the first few holds an image.
bool holds_image_folders(const std::string& d) {
  if (!is_directory(d)) return false;
  int looked = 0;
  for (const DirEntry& e : list_directory(d)) {
    if (!e.is_directory) continue;
    for (const DirEntry& f : list_directory(join_path(d, e.name)))
      if (!f.is_directory && has_image_extension(f.name)) return true;
    if (++looked == 3) break;
  }
  return false;
}

std::string listing(const std::string& dir) {
  if (!is_directory(dir)) return "(not a folder)";
  std::vector<DirEntry> entries = list_directory(dir);
  if (entries.empty()) return "(nothing)";
  std::string s;
  for (size_t i = 0; i < entries.size() && i < 12; ++i)
    s += (i ? ", " : "") + entries[i].name + (entries[i].is_directory ? "/" : "");
  if (entries.size() > 12) s += str(", ... (", entries.size(), " entries)");
  return s;
}

std::vector<int64_t> first_n(std::vector<int64_t> idx, int64_t n, const std::string& name) {
  if (n <= 0) return idx;
  SIRE_CHECK(n <= static_cast<int64_t>(idx.size()), name, ": asked for the first ", n,
             " training samples but the training split has ", idx.size());
  idx.resize(static_cast<size_t>(n));
  return idx;
}

DatasetPtr subset(const std::string& name, const DatasetPtr& base, std::vector<int64_t> idx) {
  return std::make_shared<Subset>(name, base, std::move(idx));
}

DatasetSplits open_idx(const std::string& name, const std::string& dir, const SplitOptions& o) {
  std::string path[4];
  for (int i = 0; i < 4; ++i) {
    path[i] = find_idx_file(dir, kIdxFiles[i]);
    SIRE_CHECK(!path[i].empty(), dir, ": ", name, ": missing ", kIdxFiles[i], "[.gz] (expected ",
               "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and ",
               "t10k-labels-idx1-ubyte, each raw or .gz); the folder holds: ", listing(dir));
  }
  std::vector<std::string> names;
  if (name == "fashion-mnist")
    names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
             "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  else
    for (int d = 0; d < 10; ++d) names.push_back(std::to_string(d));
  DatasetPtr full = load_idx_dataset(name + "/train+val", path[0], path[1], 10, names);
  DatasetSplits s{name, dir, nullptr, nullptr, nullptr};
  s.test = load_idx_dataset(name + "/test", path[2], path[3], 10, names);
  const int64_t val = o.val_size < 0 ? 10000 : o.val_size;
  SIRE_CHECK(val < full->size(), path[0], ": holds ", full->size(),
             " images, too few to keep the last ", val, " for validation");
  const int64_t n_train = full->size() - val;
  s.train = subset(name + "/train", full, first_n(index_range(0, n_train), o.train_limit, name));
  if (val > 0) s.val = subset(name + "/val", full, index_range(n_train, full->size()));
  return s;
}

DatasetSplits open_cifar(const std::string& name, CifarKind kind, const std::string& dir,
                         const std::vector<std::string>& files, const SplitOptions& o) {
  const CifarFormat& f = cifar_format(kind);
  for (const std::string& file : files)
    SIRE_CHECK(is_file(join_path(dir, file)), dir, ": ", name, ": missing ", file, " (expected ",
               kind == CifarKind::Cifar10
                   ? "data_batch_1.bin ... data_batch_5.bin and test_batch.bin"
                   : "train.bin and test.bin",
               ", the binary version of ", f.title, "); the folder holds: ", listing(dir));
  std::vector<std::string> names;
  const std::string names_path = join_path(dir, f.names_file);
  if (is_file(names_path)) names = read_class_names(names_path, f.num_classes);
  std::vector<std::string> train_files;
  for (size_t i = 0; i + 1 < files.size(); ++i) train_files.push_back(join_path(dir, files[i]));
  DatasetPtr full = load_cifar(name + "/train+val", kind, train_files, names);
  DatasetSplits s{name, dir, nullptr, nullptr, nullptr};
  s.test = load_cifar(name + "/test", kind, {join_path(dir, files.back())}, names);
  const int64_t val = o.val_size < 0 ? 5000 : o.val_size;
  SIRE_CHECK(val % f.num_classes == 0, name, ": a stratified validation split of ", val,
             " images is not a whole number per class (", f.num_classes, " classes)");
  if (val == 0) {
    s.train =
        subset(name + "/train", full, first_n(index_range(0, full->size()), o.train_limit, name));
    return s;
  }
  IndexSplit split = stratified_split_count(*full, val / f.num_classes, o.seed);
  s.train = subset(name + "/train", full, first_n(std::move(split.kept), o.train_limit, name));
  s.val = subset(name + "/val", full, std::move(split.drawn));
  return s;
}

DatasetSplits open_caltech(const std::string& name, const std::string& dir, const SplitOptions& o) {
  SIRE_CHECK(o.val_size <= 0, name, ": has no validation split (the paper keeps the best ",
             "training epoch); got val_size ", o.val_size);
  SIRE_CHECK(o.image_size > 0, name, ": bad image size ", o.image_size);
  auto full = std::make_shared<ImageFolderDataset>(
      name + "/all", dir, ImageFolderOptions{o.image_size, o.image_size, 3});
  IndexSplit split = stratified_split_percent(*full, o.test_percent, o.seed);
  DatasetSplits s{name, dir, nullptr, nullptr, nullptr};
  s.train = subset(name + "/train", full, first_n(std::move(split.kept), o.train_limit, name));
  s.test = subset(name + "/test", full, std::move(split.drawn));
  return s;
}

DatasetSplits open_cifar10(const std::string& name, const std::string& dir, const SplitOptions& o) {
  return open_cifar(name, CifarKind::Cifar10, dir, cifar10_files(), o);
}
DatasetSplits open_cifar100(const std::string& name, const std::string& dir,
                            const SplitOptions& o) {
  return open_cifar(name, CifarKind::Cifar100, dir, cifar100_files(), o);
}

struct Known {
  const char* name;
  const char* archive_folder;  // what the official archive unpacks into
  bool (*holds)(const std::string&);
  DatasetSplits (*open)(const std::string&, const std::string&, const SplitOptions&);
  const char* expects;  // for error messages
};

const std::vector<Known>& known() {
  static const std::vector<Known> k{
      {"mnist", "", holds_idx, open_idx,
       "mnist / fashion-mnist: train-images-idx3-ubyte, train-labels-idx1-ubyte, "
       "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (raw or .gz)"},
      {"fashion-mnist", "", holds_idx, open_idx, nullptr},
      {"cifar10", "cifar-10-batches-bin", holds_cifar10, open_cifar10,
       "cifar10: data_batch_1.bin ... data_batch_5.bin, test_batch.bin (CIFAR-10 binary "
       "version, or its folder cifar-10-batches-bin)"},
      {"cifar100", "cifar-100-binary", holds_cifar100, open_cifar100,
       "cifar100: train.bin, test.bin (CIFAR-100 binary version, or its folder "
       "cifar-100-binary)"},
      {"caltech256", "256_ObjectCategories", holds_image_folders, open_caltech,
       "caltech256: one folder of .jpg/.png images per class, e.g. 001.ak47/001_0001.jpg (or "
       "the folder 256_ObjectCategories)"}};
  return k;
}

const Known& find_known(const std::string& name) {
  for (const Known& k : known())
    if (name == k.name) return k;
  std::string names;
  for (const Known& k : known()) names += std::string(names.empty() ? "" : ", ") + k.name;
  SIRE_FAIL("unknown dataset '", name, "': known datasets are ", names,
            " (or 'auto' to tell from the files)");
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

std::vector<std::string> known_datasets() {
  std::vector<std::string> names;
  for (const Known& k : known()) names.push_back(k.name);
  return names;
}

std::string detect_dataset(const std::string& dir) {
  SIRE_CHECK(is_directory(dir), dir, ": not a folder");
  for (const Known& k : known()) {
    if (locate(dir, k.archive_folder, k.holds).empty()) continue;
    if (std::string(k.name) == "mnist" && lower(dir).find("fashion") != std::string::npos)
      return "fashion-mnist";
    return k.name;
  }
  std::string expected;
  for (const Known& k : known())
    if (k.expects) expected += str("\n  ", k.expects);
  SIRE_FAIL(dir, ": cannot tell which dataset this is; expected one of:", expected,
            "\nthe folder holds: ", listing(dir));
}

DatasetSplits dataset_from_dir(const std::string& name, const std::string& dir,
                               const SplitOptions& options) {
  const std::string canonical = name.empty() || name == "auto" ? detect_dataset(dir) : name;
  const Known& k = find_known(canonical);
  std::string where = locate(dir, k.archive_folder, k.holds);
  if (where.empty()) where = dir;  // the opener's error lists what is missing
  return k.open(canonical, where, options);
}

DatasetPtr DatasetSplits::get(const std::string& split) const {
  const DatasetPtr* p = split == "train"  ? &train
                        : split == "val"  ? &val
                        : split == "test" ? &test
                                          : nullptr;
  SIRE_CHECK(p != nullptr, name, ": unknown split '", split, "' (train, val or test)");
  SIRE_CHECK(*p != nullptr, name, ": has no ", split, " split",
             name == "caltech256" ? " (the paper keeps the best training epoch instead)" : "");
  return *p;
}

}  // namespace sire::data
