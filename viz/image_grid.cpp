#include "viz/image_grid.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "engine/error.h"

// stb_image_write compiled here with internal linkage, as data/image_decode.cpp does for
// stb_image, so that another copy elsewhere (the tests' writers) cannot collide with it.
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>

namespace sire::viz {

int auto_scale(int height, int width, int target) {
  const int side = std::max(height, width);
  if (side <= 0) return 1;
  return std::max(1, (target + side - 1) / side);
}

uint8_t display_byte(float x, float mean, float std) {
  const float v = std::clamp(x * std + mean, 0.0f, 1.0f);
  return static_cast<uint8_t>(std::lround(v * 255.0f));
}

ImageGrid::ImageGrid(GridLayout l, uint8_t background) : layout_(l) {
  SIRE_CHECK(l.rows > 0 && l.cols > 0, "image grid: needs at least one row and one column, got ",
             l.rows, " x ", l.cols);
  SIRE_CHECK(l.channels == 1 || l.channels == 3, "image grid: can draw 1-channel (grey) or ",
             "3-channel (RGB) images, not ", l.channels, " channels");
  SIRE_CHECK(l.cell_height > 0 && l.cell_width > 0, "image grid: empty cells (", l.cell_height,
             "x", l.cell_width, ")");
  SIRE_CHECK(l.scale >= 1 && l.scale <= 64, "image grid: scale must be 1 to 64, got ", l.scale);
  SIRE_CHECK(l.gap >= 0 && l.gap <= 64, "image grid: gap must be 0 to 64 pixels, got ", l.gap);
  // stb_image_write takes int sizes and strides; PNG viewers struggle long before this.
  const int64_t w = int64_t{l.cols} * l.cell_width * l.scale + int64_t{l.cols - 1} * l.gap;
  const int64_t h = int64_t{l.rows} * l.cell_height * l.scale + int64_t{l.rows - 1} * l.gap;
  SIRE_CHECK(w <= 32768 && h <= 32768, "image grid: ", w, " x ", h,
             " pixels is too large for one PNG (at most 32768 a side): fewer images or a smaller scale");
  pixels_.assign(static_cast<size_t>(w * h * l.channels), background);
}

void ImageGrid::draw(int row, int col, const float* chw, const std::vector<float>& mean,
                     const std::vector<float>& std) {
  const GridLayout& l = layout_;
  SIRE_CHECK(row >= 0 && row < l.rows && col >= 0 && col < l.cols, "image grid: cell (", row, ", ",
             col, ") is outside the ", l.rows, " x ", l.cols, " grid");
  SIRE_CHECK((mean.empty() && std.empty()) ||
                 (mean.size() == static_cast<size_t>(l.channels) && std.size() == mean.size()),
             "image grid: mean and std need one value per channel (", l.channels, "), got ",
             mean.size(), " and ", std.size());
  const int w = l.width(), s = l.scale, ch = l.channels;
  const int top = row * (l.cell_height * s + l.gap), left = col * (l.cell_width * s + l.gap);
  const int64_t plane = int64_t{l.cell_height} * l.cell_width;
  for (int c = 0; c < ch; ++c) {
    const float m = mean.empty() ? 0.0f : mean[c], sd = std.empty() ? 1.0f : std[c];
    for (int y = 0; y < l.cell_height; ++y)
      for (int x = 0; x < l.cell_width; ++x) {
        const uint8_t v = display_byte(chw[c * plane + int64_t{y} * l.cell_width + x], m, sd);
        for (int dy = 0; dy < s; ++dy) {
          uint8_t* out = &pixels_[(static_cast<size_t>(top + y * s + dy) * w + left + x * s) * ch + c];
          for (int dx = 0; dx < s; ++dx) out[dx * ch] = v;
        }
      }
  }
}

void ImageGrid::write_png(const std::string& path) const {
  const std::filesystem::path p(path);
  std::error_code ec;
  if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path(), ec);
  SIRE_CHECK(!ec, path, ": cannot make its folder: ", ec.message());
  const GridLayout& l = layout_;
  const int ok = stbi_write_png(path.c_str(), l.width(), l.height(), l.channels, pixels_.data(),
                                l.width() * l.channels);
  SIRE_CHECK(ok != 0, path, ": cannot write the PNG (is the folder writable, is there space?)");
}

}  // namespace sire::viz
