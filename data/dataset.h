// Datasets: numbered samples, each a uint8 image (C x H x W) and an integer label. Pixels stay
// uint8 until a batch is assembled (see transform.h): CIFAR as floats would take 700 MB and
// Caltech-256 at 224x224 18 GB. A dataset is immutable once built and every const method is
// safe to call from several threads at once (the loader's workers read it concurrently).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace sire::data {

struct SampleShape {
  int channels = 0, height = 0, width = 0;
  int64_t numel() const { return int64_t{channels} * height * width; }
  bool operator==(const SampleShape& o) const {
    return channels == o.channels && height == o.height && width == o.width;
  }
  bool operator!=(const SampleShape& o) const { return !(*this == o); }
};
std::string to_string(const SampleShape& s);  // "3x32x32"

class Dataset {
 public:
  virtual ~Dataset() = default;

  virtual int64_t size() const = 0;
  virtual SampleShape sample_shape() const = 0;
  virtual int num_classes() const = 0;
  // One name per class when the files give them (CIFAR's label files, Caltech's folder names,
  // the known MNIST/Fashion-MNIST classes); empty when unknown.
  virtual const std::vector<std::string>& class_names() const = 0;
  // The label of sample `index`, without decoding its image (splits and histograms use it).
  virtual int32_t label(int64_t index) const = 0;
  // Writes sample `index` as sample_shape().numel() bytes, channel-major (CHW), and its label.
  // Throws sire::Error naming the file at fault when the sample cannot be read.
  virtual void load(int64_t index, uint8_t* chw_out, int32_t* label_out) const = 0;
  // A one-line description for logs: "cifar10/train: 45000 samples 3x32x32, 10 classes".
  virtual std::string describe() const;
  virtual const std::string& name() const = 0;
};

using DatasetPtr = std::shared_ptr<const Dataset>;

// Samples held in memory: one contiguous uint8 buffer (sample i at i * shape.numel()) and one
// label per sample. What the IDX and CIFAR readers build.
class InMemoryDataset final : public Dataset {
 public:
  // Checks that the buffer holds labels.size() samples and every label is in [0, num_classes).
  InMemoryDataset(std::string name, SampleShape shape, std::vector<uint8_t> pixels,
                  std::vector<int32_t> labels, int num_classes,
                  std::vector<std::string> class_names = {});

  int64_t size() const override { return static_cast<int64_t>(labels_.size()); }
  SampleShape sample_shape() const override { return shape_; }
  int num_classes() const override { return num_classes_; }
  const std::vector<std::string>& class_names() const override { return class_names_; }
  int32_t label(int64_t index) const override;
  void load(int64_t index, uint8_t* chw_out, int32_t* label_out) const override;
  const std::string& name() const override { return name_; }

  const uint8_t* pixels(int64_t index) const;  // direct access, no copy

 private:
  std::string name_;
  SampleShape shape_;
  std::vector<uint8_t> pixels_;
  std::vector<int32_t> labels_;
  int num_classes_;
  std::vector<std::string> class_names_;
};

// A dataset seen through a list of indices into another one: how splits are made. Sample i of
// the subset is sample indices[i] of the base; the base is shared, never copied.
class Subset final : public Dataset {
 public:
  Subset(std::string name, DatasetPtr base, std::vector<int64_t> indices);

  int64_t size() const override { return static_cast<int64_t>(indices_.size()); }
  SampleShape sample_shape() const override { return base_->sample_shape(); }
  int num_classes() const override { return base_->num_classes(); }
  const std::vector<std::string>& class_names() const override { return base_->class_names(); }
  int32_t label(int64_t index) const override;
  void load(int64_t index, uint8_t* chw_out, int32_t* label_out) const override;
  const std::string& name() const override { return name_; }

  const DatasetPtr& base() const { return base_; }
  const std::vector<int64_t>& indices() const { return indices_; }
  int64_t base_index(int64_t index) const;

 private:
  std::string name_;
  DatasetPtr base_;
  std::vector<int64_t> indices_;
};

// How many samples of each class (labels read with label(), no decoding).
std::vector<int64_t> class_histogram(const Dataset& data);

}  // namespace sire::data
