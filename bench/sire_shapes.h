// The convolution shapes of SIRe-CNN on 3x32x32 input (paper §3.1): the encoder's convs and the
// decoders' stride-1 transposed convs, batch 64.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sire::bench {

struct ConvShape {
  std::string name;
  int64_t in, out, hw;  // channels in, channels out, square spatial size (stride 1, pad 1, 3x3)
};

inline std::vector<ConvShape> encoder_shapes() {
  return {{"enc1a", 3, 64, 32},    {"enc1b", 64, 64, 32},   {"enc2a", 64, 128, 16},
          {"enc2b", 128, 128, 16}, {"enc3a", 128, 256, 8},  {"enc3b", 256, 256, 8},
          {"enc4a", 256, 512, 4},  {"enc4b", 512, 512, 4}};
}

// Each decoder level inverts an encoder block: C_l -> C_l, then C_l -> C_{l-1}.
inline std::vector<ConvShape> decoder_shapes() {
  return {{"dec1a", 64, 64, 32},   {"dec1b", 64, 3, 32},    {"dec2a", 128, 128, 16},
          {"dec2b", 128, 64, 16},  {"dec3a", 256, 256, 8},  {"dec3b", 256, 128, 8},
          {"dec4a", 512, 512, 4},  {"dec4b", 512, 256, 4}};
}

constexpr int64_t kBatch = 64;

}  // namespace sire::bench
