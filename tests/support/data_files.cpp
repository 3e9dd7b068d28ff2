#include "tests/support/data_files.h"

#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <stdexcept>

// Internal linkage: the library or an application may hold another copy of stb_image_write.
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>

namespace sire::testing {
namespace fs = std::filesystem;

TempDir::TempDir() {
  static std::atomic<int> counter{0};
  const fs::path base = fs::temp_directory_path();
  for (int attempt = 0; attempt < 100; ++attempt) {
    fs::path p =
        base / ("sire-data-test-" + std::to_string(getpid()) + "-" + std::to_string(counter++));
    if (fs::create_directory(p)) {
      path_ = p.string();
      return;
    }
  }
  throw std::runtime_error("cannot create a temporary folder under " + base.string());
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::string TempDir::mkdir(const std::string& name) const {
  fs::create_directories(file(name));
  return file(name);
}

void write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path);
}

void write_gzip(const std::string& path, const std::vector<uint8_t>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  if (f == nullptr) throw std::runtime_error("cannot write " + path);
  const int wrote =
      bytes.empty() ? 0 : gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(f);
  if (wrote != static_cast<int>(bytes.size())) throw std::runtime_error("cannot write " + path);
}

void write_text(const std::string& path, const std::string& text) {
  write_file(path, std::vector<uint8_t>(text.begin(), text.end()));
}

namespace {
void put_u32(std::vector<uint8_t>& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
}
}  // namespace

std::vector<uint8_t> idx_images(uint32_t count, uint32_t rows, uint32_t cols, uint32_t magic) {
  std::vector<uint8_t> out;
  put_u32(out, magic);
  put_u32(out, count);
  put_u32(out, rows);
  put_u32(out, cols);
  const int64_t per = int64_t{rows} * cols;
  for (int64_t i = 0; i < count; ++i)
    for (int64_t j = 0; j < per; ++j) out.push_back(test_pixel(i, j));
  return out;
}

std::vector<uint8_t> idx_labels(const std::vector<uint8_t>& labels, uint32_t magic) {
  std::vector<uint8_t> out;
  put_u32(out, magic);
  put_u32(out, static_cast<uint32_t>(labels.size()));
  out.insert(out.end(), labels.begin(), labels.end());
  return out;
}

std::vector<uint8_t> cifar_records(const std::vector<uint8_t>& labels,
                                   const std::vector<uint8_t>& coarse, int64_t first_image) {
  std::vector<uint8_t> out;
  for (size_t r = 0; r < labels.size(); ++r) {
    if (!coarse.empty()) out.push_back(coarse[r]);
    out.push_back(labels[r]);
    for (int64_t j = 0; j < 3072; ++j)
      out.push_back(test_pixel(first_image + static_cast<int64_t>(r), j));
  }
  return out;
}

void write_png(const std::string& path, int width, int height, int channels,
               const std::vector<uint8_t>& hwc) {
  if (!stbi_write_png(path.c_str(), width, height, channels, hwc.data(), width * channels))
    throw std::runtime_error("cannot write " + path);
}

void write_jpeg(const std::string& path, int width, int height, int channels,
                const std::vector<uint8_t>& hwc, int quality) {
  if (!stbi_write_jpg(path.c_str(), width, height, channels, hwc.data(), quality))
    throw std::runtime_error("cannot write " + path);
}

}  // namespace sire::testing
