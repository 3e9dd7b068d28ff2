// Decoding one image file (JPEG or PNG, through stb_image) into a fixed-size uint8 CHW sample.
#pragma once

#include <cstdint>
#include <string>

namespace sire::data {

// Reads `path`, converts it to `channels` channels (3: grey is replicated and alpha dropped, as
// stb_image converts; 1: RGB becomes stb_image's luma), resizes it to height x width (bilinear
// with antialiasing, see resize.h; the aspect ratio is not kept, nothing is cropped) and writes
// channels*height*width bytes, channel-major, to chw_out.
// A missing, empty, unreadable or corrupt file throws sire::Error naming the path.
void decode_image_file(const std::string& path, int channels, int height, int width,
                       uint8_t* chw_out);

// Whether a file name looks like an image this decoder reads (.jpg, .jpeg, .png, any case).
bool has_image_extension(const std::string& file_name);

}  // namespace sire::data
