// A grid of equally sized images, drawn from network inputs and written as PNG: what
// `sire recon` shows (one row per image: the input, then each auto-encoder's output).
//
// Cells hold images in the units the network sees, x = (pixel - mean) / std, and are drawn as
// pixel = clamp(x * std + mean, 0, 1), so an input and its reconstructions are compared in the
// same units the eye knows. One channel stays one channel (a grey PNG), three stay RGB.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sire::viz {

struct GridLayout {
  int rows = 0, cols = 0;
  int channels = 0;             // 1 (grey) or 3 (RGB)
  int cell_height = 0, cell_width = 0;  // one image, before scaling
  int scale = 1;                // nearest-neighbour upscale of every cell
  int gap = 2;                  // separator between cells, in output pixels (not scaled)

  int width() const { return cols * cell_width * scale + (cols - 1) * gap; }
  int height() const { return rows * cell_height * scale + (rows - 1) * gap; }
};

// The smallest integer scale that makes an image at least `target` pixels on its long side
// (32x32 -> 4, 224x224 -> 1): small images are unreadable at their own size.
int auto_scale(int height, int width, int target = 128);

class ImageGrid {
 public:
  // Checks the layout (positive sizes, 1 or 3 channels, a grid that fits a PNG). Separators
  // and undrawn cells are `background` (white: the images are mostly dark).
  explicit ImageGrid(GridLayout layout, uint8_t background = 255);

  // Draws a CHW float image in network units into cell (row, col); mean and std have one entry
  // per channel (empty: the image is already in [0, 1]).
  void draw(int row, int col, const float* chw, const std::vector<float>& mean,
            const std::vector<float>& std);

  const GridLayout& layout() const { return layout_; }
  // Interleaved (HWC) bytes, height() x width() x channels.
  const std::vector<uint8_t>& pixels() const { return pixels_; }
  // Writes the grid as PNG, making the folder if needed; throws naming the path on failure.
  void write_png(const std::string& path) const;

 private:
  GridLayout layout_;
  std::vector<uint8_t> pixels_;
};

// The byte a network value shows as: clamp(x * std + mean, 0, 1) * 255, rounded.
uint8_t display_byte(float x, float mean, float std);

}  // namespace sire::viz
