// Image folders in Caltech-256's layout: one folder per class under a root, holding that class's
// images (256_ObjectCategories/001.ak47/001_0001.jpg). Classes are the folders sorted by name
// (byte order), so "001.ak47" is class 0; images are sorted by name inside each class. Only the
// file list is read up front; images are decoded when a sample is loaded (on the loader's worker
// threads), never all kept in memory: Caltech-256 at 224x224 would take 4.6 GB as uint8.
#pragma once

#include <string>
#include <vector>

#include "data/dataset.h"

namespace sire::data {

struct ImageFolderOptions {
  int height = 224, width = 224;  // every image is resized to this (the paper: 224x224)
  int channels = 3;               // grey images are made RGB, RGBA loses its alpha
};

class ImageFolderDataset final : public Dataset {
 public:
  // Scans root. Files without a .jpg/.jpeg/.png extension, hidden entries and folders nested
  // inside class folders are skipped; a class folder without images, or a root without class
  // folders, is an error naming the folder.
  ImageFolderDataset(std::string name, std::string root, ImageFolderOptions options = {});

  int64_t size() const override { return static_cast<int64_t>(files_.size()); }
  SampleShape sample_shape() const override;
  int num_classes() const override { return static_cast<int>(class_names_.size()); }
  const std::vector<std::string>& class_names() const override { return class_names_; }
  int32_t label(int64_t index) const override;
  void load(int64_t index, uint8_t* chw_out, int32_t* label_out) const override;
  const std::string& name() const override { return name_; }

  const std::string& root() const { return root_; }
  const std::string& path(int64_t index) const;  // the image file of a sample
  const std::vector<std::string>& class_folders() const { return class_folders_; }

 private:
  std::string name_, root_;
  ImageFolderOptions options_;
  std::vector<std::string> class_folders_;  // "001.ak47"
  std::vector<std::string> class_names_;    // "ak47": the folder name less a leading "NNN."
  std::vector<std::string> files_;
  std::vector<int32_t> labels_;
};

}  // namespace sire::data
