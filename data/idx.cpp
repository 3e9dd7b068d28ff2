#include "data/idx.h"

#include <cstdio>

#include "data/file_io.h"
#include "engine/error.h"

namespace sire::data {
namespace {

uint32_t big_endian_u32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// Sizes in messages are of the decompressed data for a gzipped file: say so.
std::string bytes_word(const std::string& path) {
  return ends_with(path, ".gz") ? " bytes (decompressed)" : " bytes";
}

void check_magic(const std::string& path, const std::vector<uint8_t>& bytes, uint32_t expected) {
  const bool images = expected == kIdxImagesMagic;
  const char* kind = images ? "IDX images: unsigned bytes, 3 dimensions"
                            : "IDX labels: unsigned bytes, 1 dimension";
  SIRE_CHECK(bytes.size() >= 4, path, ": truncated: the file ends after ", bytes.size(),
             bytes_word(path), ", before the end of the magic number (", kind, ")");
  const uint32_t magic = big_endian_u32(bytes.data());
  if (magic == expected) return;
  std::string hint;
  if (magic == (images ? kIdxLabelsMagic : kIdxImagesMagic))
    hint = images ? " (this is an IDX labels file)" : " (this is an IDX images file)";
  else if ((magic >> 16) != 0)
    hint = " (not an IDX file)";
  SIRE_FAIL(path, ": wrong magic number ", hex32(magic), ", expected ", hex32(expected), " (", kind,
            ")", hint);
}

// The header's extents must describe exactly the bytes that follow it.
void check_length(const std::string& path, size_t have, size_t header, uint64_t payload,
                  const std::string& what) {
  const uint64_t want = header + payload;
  SIRE_CHECK(have >= want, path, ": truncated: header says ", what, " (", want,
             " bytes with the header) but the file ends after ", have, bytes_word(path));
  SIRE_CHECK(have == want, path, ": header says ", what, " (", want, " bytes with the header) but",
             " the file has ", have, bytes_word(path), ": ", have - want, " bytes too many");
}

}  // namespace

IdxImages read_idx_images(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file(path);
  check_magic(path, bytes, kIdxImagesMagic);
  SIRE_CHECK(bytes.size() >= 16, path, ": truncated: the file ends after ", bytes.size(),
             bytes_word(path), ", inside the 16-byte header");
  const uint32_t count = big_endian_u32(&bytes[4]);
  const uint32_t rows = big_endian_u32(&bytes[8]), cols = big_endian_u32(&bytes[12]);
  SIRE_CHECK(count > 0, path, ": header says 0 images");
  // Bounds that keep the products below in range; real IDX images are 28x28.
  SIRE_CHECK(rows > 0 && cols > 0 && rows <= 65535 && cols <= 65535, path,
             ": header gives images of ", rows, "x", cols, ", expected positive sizes below 65536");
  const uint64_t payload = uint64_t{count} * rows * cols;
  check_length(path, bytes.size(), 16, payload, str(count, " images of ", rows, "x", cols));
  IdxImages out;
  out.count = count;
  out.rows = static_cast<int>(rows);
  out.cols = static_cast<int>(cols);
  out.pixels.assign(bytes.begin() + 16, bytes.end());
  return out;
}

std::vector<uint8_t> read_idx_labels(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file(path);
  check_magic(path, bytes, kIdxLabelsMagic);
  SIRE_CHECK(bytes.size() >= 8, path, ": truncated: the file ends after ", bytes.size(),
             bytes_word(path), ", inside the 8-byte header");
  const uint32_t count = big_endian_u32(&bytes[4]);
  SIRE_CHECK(count > 0, path, ": header says 0 labels");
  check_length(path, bytes.size(), 8, count, str(count, " labels"));
  return std::vector<uint8_t>(bytes.begin() + 8, bytes.end());
}

std::shared_ptr<InMemoryDataset> load_idx_dataset(const std::string& name,
                                                  const std::string& images_path,
                                                  const std::string& labels_path, int num_classes,
                                                  std::vector<std::string> class_names) {
  IdxImages images = read_idx_images(images_path);
  const std::vector<uint8_t> raw_labels = read_idx_labels(labels_path);
  SIRE_CHECK(static_cast<int64_t>(raw_labels.size()) == images.count, images_path, " has ",
             images.count, " images but ", labels_path, " has ", raw_labels.size(),
             " labels: image and label counts differ");
  std::vector<int32_t> labels(raw_labels.size());
  for (size_t i = 0; i < raw_labels.size(); ++i) {
    SIRE_CHECK(raw_labels[i] < num_classes, labels_path, ": label ", int{raw_labels[i]},
               " of image ", i, " is out of range [0, ", num_classes, ")");
    labels[i] = raw_labels[i];
  }
  return std::make_shared<InMemoryDataset>(name, SampleShape{1, images.rows, images.cols},
                                           std::move(images.pixels), std::move(labels), num_classes,
                                           std::move(class_names));
}

}  // namespace sire::data
