// Test fixtures for the data readers: a temporary folder, and writers of small files in the real
// formats (IDX, CIFAR binary, PNG and JPEG), so every reader is tested on files it could meet.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sire::testing {

// A fresh folder under the system's temporary directory, removed with everything in it.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  std::string mkdir(const std::string& name) const;  // makes a sub-folder, returns its path

 private:
  std::string path_;
};

void write_file(const std::string& path, const std::vector<uint8_t>& bytes);
void write_gzip(const std::string& path, const std::vector<uint8_t>& bytes);
void write_text(const std::string& path, const std::string& text);

// The pixel value the generated images hold at (image i, byte j): varied, reproducible.
inline uint8_t test_pixel(int64_t i, int64_t j) {
  return static_cast<uint8_t>((i * 37 + j * 11 + (j / 7) * 3) & 255);
}

// IDX files: images (magic 0x00000803) of count x rows x cols filled with test_pixel, and
// labels (magic 0x00000801). `magic` overrides the magic number for the error tests.
std::vector<uint8_t> idx_images(uint32_t count, uint32_t rows, uint32_t cols,
                                uint32_t magic = 0x00000803);
std::vector<uint8_t> idx_labels(const std::vector<uint8_t>& labels, uint32_t magic = 0x00000801);

// CIFAR records: CIFAR-10 (1 label byte) when coarse is empty, CIFAR-100 (coarse, fine) else.
// Record r holds test_pixel(first_image + r, j) at pixel byte j.
std::vector<uint8_t> cifar_records(const std::vector<uint8_t>& labels,
                                   const std::vector<uint8_t>& coarse = {},
                                   int64_t first_image = 0);

// Images through stb_image_write; pixels are interleaved (HWC), `channels` 1 to 4.
void write_png(const std::string& path, int width, int height, int channels,
               const std::vector<uint8_t>& hwc);
void write_jpeg(const std::string& path, int width, int height, int channels,
                const std::vector<uint8_t>& hwc, int quality = 95);

}  // namespace sire::testing
