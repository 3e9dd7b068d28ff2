#include "data/image_folder.h"

#include <cctype>

#include "data/file_io.h"
#include "data/image_decode.h"
#include "engine/error.h"

namespace sire::data {
namespace {

// "001.ak47" -> "ak47"; a name without a numeric prefix stays as it is.
std::string display_name(const std::string& folder) {
  size_t i = 0;
  while (i < folder.size() && std::isdigit(static_cast<unsigned char>(folder[i]))) ++i;
  if (i > 0 && i + 1 < folder.size() && folder[i] == '.') return folder.substr(i + 1);
  return folder;
}

}  // namespace

ImageFolderDataset::ImageFolderDataset(std::string name, std::string root,
                                       ImageFolderOptions options)
    : name_(std::move(name)), root_(std::move(root)), options_(options) {
  SIRE_CHECK(options_.height > 0 && options_.width > 0, name_, ": bad image size ", options_.height,
             "x", options_.width);
  SIRE_CHECK(options_.channels == 1 || options_.channels == 3, name_,
             ": images can be read with 1 or 3 channels, not ", options_.channels);
  SIRE_CHECK(is_directory(root_), root_,
             ": not a folder (expected one folder of images per "
             "class, e.g. 001.ak47/001_0001.jpg)");
  for (const DirEntry& entry : list_directory(root_)) {
    if (!entry.is_directory) continue;
    const std::string folder = join_path(root_, entry.name);
    const int32_t label = static_cast<int32_t>(class_folders_.size());
    int64_t images = 0;
    for (const DirEntry& file : list_directory(folder)) {
      if (file.is_directory || !has_image_extension(file.name)) continue;
      files_.push_back(join_path(folder, file.name));
      labels_.push_back(label);
      ++images;
    }
    SIRE_CHECK(images > 0, folder, ": empty class folder: no .jpg, .jpeg or .png images");
    class_folders_.push_back(entry.name);
    class_names_.push_back(display_name(entry.name));
  }
  SIRE_CHECK(!class_folders_.empty(), root_,
             ": no class folders (expected one folder of .jpg, "
             ".jpeg or .png images per class, e.g. 001.ak47/001_0001.jpg)");
}

SampleShape ImageFolderDataset::sample_shape() const {
  return SampleShape{options_.channels, options_.height, options_.width};
}

const std::string& ImageFolderDataset::path(int64_t index) const {
  SIRE_CHECK(index >= 0 && index < size(), name_, ": sample ", index, " out of range [0, ", size(),
             ")");
  return files_[static_cast<size_t>(index)];
}

int32_t ImageFolderDataset::label(int64_t index) const {
  path(index);  // range check
  return labels_[static_cast<size_t>(index)];
}

void ImageFolderDataset::load(int64_t index, uint8_t* chw_out, int32_t* label_out) const {
  decode_image_file(path(index), options_.channels, options_.height, options_.width, chw_out);
  *label_out = labels_[static_cast<size_t>(index)];
}

}  // namespace sire::data
