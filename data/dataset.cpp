#include "data/dataset.h"

#include <cstring>

#include "engine/error.h"

namespace sire::data {

std::string to_string(const SampleShape& s) { return str(s.channels, "x", s.height, "x", s.width); }

std::string Dataset::describe() const {
  return str(name(), ": ", size(), " samples ", to_string(sample_shape()), ", ", num_classes(),
             " classes");
}

InMemoryDataset::InMemoryDataset(std::string name, SampleShape shape, std::vector<uint8_t> pixels,
                                 std::vector<int32_t> labels, int num_classes,
                                 std::vector<std::string> class_names)
    : name_(std::move(name)),
      shape_(shape),
      pixels_(std::move(pixels)),
      labels_(std::move(labels)),
      num_classes_(num_classes),
      class_names_(std::move(class_names)) {
  SIRE_CHECK(shape_.numel() > 0, name_, ": empty sample shape ", to_string(shape_));
  SIRE_CHECK(num_classes_ > 0, name_, ": needs at least one class, got ", num_classes_);
  SIRE_CHECK(static_cast<int64_t>(pixels_.size()) == size() * shape_.numel(), name_, ": ",
             pixels_.size(), " pixel bytes for ", size(), " samples of ", to_string(shape_));
  SIRE_CHECK(class_names_.empty() || static_cast<int>(class_names_.size()) == num_classes_, name_,
             ": ", class_names_.size(), " class names for ", num_classes_, " classes");
  for (size_t i = 0; i < labels_.size(); ++i)
    SIRE_CHECK(labels_[i] >= 0 && labels_[i] < num_classes_, name_, ": sample ", i, " has label ",
               labels_[i], ", out of range [0, ", num_classes_, ")");
}

int32_t InMemoryDataset::label(int64_t index) const {
  SIRE_CHECK(index >= 0 && index < size(), name_, ": sample ", index, " out of range [0, ", size(),
             ")");
  return labels_[static_cast<size_t>(index)];
}

const uint8_t* InMemoryDataset::pixels(int64_t index) const {
  SIRE_CHECK(index >= 0 && index < size(), name_, ": sample ", index, " out of range [0, ", size(),
             ")");
  return pixels_.data() + index * shape_.numel();
}

void InMemoryDataset::load(int64_t index, uint8_t* chw_out, int32_t* label_out) const {
  std::memcpy(chw_out, pixels(index), static_cast<size_t>(shape_.numel()));
  *label_out = labels_[static_cast<size_t>(index)];
}

Subset::Subset(std::string name, DatasetPtr base, std::vector<int64_t> indices)
    : name_(std::move(name)), base_(std::move(base)), indices_(std::move(indices)) {
  SIRE_CHECK(base_ != nullptr, name_, ": subset of no dataset");
  const int64_t n = base_->size();
  for (size_t i = 0; i < indices_.size(); ++i)
    SIRE_CHECK(indices_[i] >= 0 && indices_[i] < n, name_, ": index ", indices_[i], " (entry ", i,
               ") out of range for ", base_->name(), " of ", n, " samples");
}

int64_t Subset::base_index(int64_t index) const {
  SIRE_CHECK(index >= 0 && index < size(), name_, ": sample ", index, " out of range [0, ", size(),
             ")");
  return indices_[static_cast<size_t>(index)];
}

int32_t Subset::label(int64_t index) const { return base_->label(base_index(index)); }

void Subset::load(int64_t index, uint8_t* chw_out, int32_t* label_out) const {
  base_->load(base_index(index), chw_out, label_out);
}

std::vector<int64_t> class_histogram(const Dataset& data) {
  std::vector<int64_t> counts(static_cast<size_t>(data.num_classes()), 0);
  for (int64_t i = 0; i < data.size(); ++i) ++counts[static_cast<size_t>(data.label(i))];
  return counts;
}

}  // namespace sire::data
