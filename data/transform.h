// Turning uint8 samples into the float32 the network sees, when a batch is assembled:
//   x = (pixel / 255 - mean[c]) / std[c], optionally mirrored left-right, optionally padded.
// Each step is a choice docs/data.md explains; the order is fixed: flip and padding commute
// (the padding is symmetric), and the padding's value is defined in pixel terms (see PadValue).
#pragma once

#include <cstdint>
#include <vector>

#include "data/dataset.h"

namespace sire::data {

// What the padded border holds.
//   Black: pixel value 0, normalized like the image, i.e. (0 - mean) / std. The padded image is
//          what the same picture with a wider black margin would be; MNIST and Fashion-MNIST
//          have black backgrounds, so the border continues the background (torchvision's Pad
//          before Normalize does the same). The default.
//   Zero:  0 after normalization, i.e. the mean colour: a grey frame around a black background.
enum class PadValue { Black, Zero };

struct TransformOptions {
  std::vector<float> mean, std;  // per channel, in [0, 1] units; both empty: only x / 255
  bool random_hflip = false;     // mirror a sample when flip_decision(...) says so
  int pad = 0;                   // pixels added on every side (MNIST 28 -> 32: 2)
  PadValue pad_value = PadValue::Black;
};

class Transform {
 public:
  Transform() = default;
  explicit Transform(TransformOptions options);

  const TransformOptions& options() const { return options_; }
  // The shape of a transformed sample; checks that mean/std fit the channel count.
  SampleShape output_shape(const SampleShape& in) const;
  // Writes output_shape(in).numel() floats (CHW) for one uint8 CHW sample.
  void apply(const uint8_t* chw, const SampleShape& in, bool flip, float* out) const;

 private:
  TransformOptions options_;
};

// Whether sample `index` is mirrored in `epoch`: philox_uniform(seed, kFlipStream + epoch,
// index) < 0.5. Depends on nothing else, so a resumed run flips exactly the same samples.
bool flip_decision(uint64_t seed, int64_t epoch, int64_t index);

// Per-channel mean and standard deviation (population, over every pixel) of a dataset in
// [0, 1] units. max_samples > 0 reads only that many samples, evenly spaced through the
// dataset (so every part of it counts); sums are exact integers, so the result does not depend
// on the order of summation.
struct ChannelStats {
  std::vector<float> mean, std;
};
ChannelStats compute_channel_stats(const Dataset& data, int64_t max_samples = 0);

}  // namespace sire::data
