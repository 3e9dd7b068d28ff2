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

void decode_image_file(const std::string& path, int channels, int height, int width,
                       uint8_t* chw_out) {
  SIRE_CHECK(channels == 1 || channels == 3, path, ": can decode to 1 or 3 channels, not ",
             channels);
  SIRE_CHECK(height > 0 && width > 0, path, ": bad output size ", height, "x", width);
  const std::vector<uint8_t> bytes = read_raw_file(path);
  SIRE_CHECK(!bytes.empty(), path, ": cannot decode image: the file is empty");
  SIRE_CHECK(bytes.size() <= 0x7fffffff, path, ": image file too large (", bytes.size(), " bytes)");
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
