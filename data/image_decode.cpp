#include "data/image_decode.h"

#include <algorithm>
#include <cctype>
#include <memory>
#include <vector>

#include "data/file_io.h"
#include "data/resize.h"
#include "engine/error.h"

// stb's implementations are compiled here with internal linkage (STB_*_STATIC), so they never
// clash with another copy linked into an application. JPEG and PNG only: what the readers accept.
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#define STBI_NO_STDIO
#define STBI_NO_LINEAR
#define STBI_NO_HDR
#include <stb/stb_image.h>

namespace sire::data {
namespace {

// stb_image (Debian's 2.27) builds a JPEG Huffman table from the 16 code counts of a DHT segment
// without checking that they sum to at most 256, the size of its arrays: a damaged or crafted
// file makes it write past them (found by tests/test_damaged_inputs.cpp under the sanitizers).
// So every DHT segment is checked here first, walking the markers as the JPEG standard lays
// them out: a segment is FF, its marker byte and a big-endian length that counts itself;
// entropy-coded data after a scan header runs to the next FF not followed by 00 or a restart
// marker (D0-D7). Bytes between segments that start none are stepped over one at a time, as
// stb_image steps over them looking for its next marker, so no table it would read is missed.
void check_jpeg_huffman_tables(const std::vector<uint8_t>& b, const std::string& path) {
  size_t at = 2;  // after SOI (FF D8)
  while (at + 4 <= b.size()) {
    if (b[at] != 0xFF) {
      ++at;
      continue;
    }
    const uint8_t marker = b[at + 1];
    if (marker == 0xFF) {  // fill byte
      ++at;
      continue;
    }
    if (marker == 0xD9) return;                                  // end of image
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {  // no length
      at += 2;
      continue;
    }
    const size_t length = static_cast<size_t>(b[at + 2]) << 8 | b[at + 3];
    if (length < 2 || at + 2 + length > b.size()) return;
    if (marker == 0xC4) {  // DHT: tables of 1 class/id byte, 16 counts, then the symbols
      size_t t = at + 4;
      const size_t end = at + 2 + length;
      while (t + 17 <= end) {
        size_t codes = 0;
        for (int i = 1; i <= 16; ++i) codes += b[t + i];
        SIRE_CHECK(codes <= 256, path, ": cannot decode image: corrupt JPEG (a Huffman table ",
                   "lists ", codes, " codes; at most 256 exist)");
        t += 17 + codes;
      }
    }
    at += 2 + length;
    if (marker == 0xDA) {  // a scan: skip its entropy-coded data
      while (at + 1 < b.size() &&
             !(b[at] == 0xFF && b[at + 1] != 0x00 && !(b[at + 1] >= 0xD0 && b[at + 1] <= 0xD7)))
        ++at;
    }
  }
}

}  // namespace

void decode_image_file(const std::string& path, int channels, int height, int width,
                       uint8_t* chw_out) {
  SIRE_CHECK(channels == 1 || channels == 3, path, ": can decode to 1 or 3 channels, not ",
             channels);
  SIRE_CHECK(height > 0 && width > 0, path, ": bad output size ", height, "x", width);
  const std::vector<uint8_t> bytes = read_raw_file(path);
  SIRE_CHECK(!bytes.empty(), path, ": cannot decode image: the file is empty");
  SIRE_CHECK(bytes.size() <= 0x7fffffff, path, ": image file too large (", bytes.size(), " bytes)");
  if (bytes.size() >= 2 && bytes[0] == 0xFF && bytes[1] == 0xD8)
    check_jpeg_huffman_tables(bytes, path);
  int w = 0, h = 0, file_channels = 0;
  std::unique_ptr<uint8_t, void (*)(void*)> pixels(
      stbi_load_from_memory(bytes.data(), static_cast<int>(bytes.size()), &w, &h, &file_channels,
                            channels),
      stbi_image_free);
  // stb_image's failure reason is thread-local, so the message is this thread's own.
  if (!pixels) SIRE_FAIL(path, ": cannot decode image: ", stbi_failure_reason());

  resize_bilinear_hwc_to_chw(pixels.get(), w, h, channels, chw_out, width, height);
}

bool has_image_extension(const std::string& file_name) {
  const size_t dot = file_name.rfind('.');
  if (dot == std::string::npos) return false;
  std::string ext = file_name.substr(dot + 1);
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == "jpg" || ext == "jpeg" || ext == "png";
}

}  // namespace sire::data
