// Image resizing for the image-folder reader: bilinear with antialiasing.
//
// Each output pixel along an axis is a weighted mean of the input pixels whose centres lie
// within the filter's support of its own centre (pixel centres at i + 0.5, so the image's edges
// line up). The weights are a triangle (1 - |d|) widened by the reduction factor when
// shrinking, so every input pixel contributes and nothing aliases; when enlarging it is plain
// bilinear interpolation. Taps outside the image are dropped and the rest renormalized (edges
// clamp). The two axes are filtered one after the other in float; rounding happens once, at the
// end. This is the filter PIL's bilinear resize uses (what torchvision's Resize gives on PIL
// images), written here because stb_image_resize's triangle filter trips its own assertion on
// common sizes (300x200 -> 224x224) in builds with assertions on.
#pragma once

#include <cstdint>

namespace sire::data {

// in: in_h x in_w pixels of `channels` interleaved bytes (HWC, as decoders give them).
// out: channels x out_h x out_w bytes, channel-major (CHW, as samples are stored).
void resize_bilinear_hwc_to_chw(const uint8_t* in, int in_w, int in_h, int channels,
                                uint8_t* out, int out_w, int out_h);

}  // namespace sire::data
