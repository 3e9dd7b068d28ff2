#include "data/transform.h"

#include <algorithm>
#include <cmath>

#include "data/splits.h"
#include "engine/error.h"
#include "kernels/common/philox.h"

namespace sire::data {

Transform::Transform(TransformOptions options) : options_(std::move(options)) {
  const TransformOptions& o = options_;
  SIRE_CHECK(o.mean.size() == o.std.size(), "transform: ", o.mean.size(), " means but ",
             o.std.size(), " standard deviations");
  for (float s : o.std)
    SIRE_CHECK(s > 0 && std::isfinite(s), "transform: standard deviation ", s, " must be > 0");
  for (float m : o.mean) SIRE_CHECK(std::isfinite(m), "transform: mean ", m, " is not finite");
  SIRE_CHECK(o.pad >= 0, "transform: negative padding ", o.pad);
}

SampleShape Transform::output_shape(const SampleShape& in) const {
  const size_t c = options_.mean.size();
  SIRE_CHECK(c == 0 || c == static_cast<size_t>(in.channels), "transform: ", c,
             " channel means for samples of ", to_string(in), " (", in.channels, " channels)");
  return SampleShape{in.channels, in.height + 2 * options_.pad, in.width + 2 * options_.pad};
}

void Transform::apply(const uint8_t* chw, const SampleShape& in, bool flip, float* out) const {
  const SampleShape os = output_shape(in);
  const int pad = options_.pad;
  const bool normalize = !options_.mean.empty();
  for (int c = 0; c < in.channels; ++c) {
    // x = pixel * scale + shift folds "/ 255, - mean, / std" into one multiply-add.
    const float sd = normalize ? options_.std[c] : 1.0f;
    const float scale = 1.0f / (255.0f * sd);
    const float shift = normalize ? -options_.mean[c] / sd : 0.0f;
    const float border = options_.pad_value == PadValue::Black ? shift : 0.0f;
    float* plane = out + static_cast<int64_t>(c) * os.height * os.width;
    const uint8_t* src = chw + static_cast<int64_t>(c) * in.height * in.width;
    for (int y = 0; y < os.height; ++y) {
      float* row = plane + static_cast<int64_t>(y) * os.width;
      const int sy = y - pad;
      if (sy < 0 || sy >= in.height) {
        for (int x = 0; x < os.width; ++x) row[x] = border;
        continue;
      }
      const uint8_t* srow = src + static_cast<int64_t>(sy) * in.width;
      for (int x = 0; x < pad; ++x) row[x] = row[os.width - 1 - x] = border;
      float* dst = row + pad;
      if (flip)
        for (int x = 0; x < in.width; ++x) dst[x] = srow[in.width - 1 - x] * scale + shift;
      else
        for (int x = 0; x < in.width; ++x) dst[x] = srow[x] * scale + shift;
    }
  }
}

bool flip_decision(uint64_t seed, int64_t epoch, int64_t index) {
  return philox_uniform(seed, kFlipStream + static_cast<uint64_t>(epoch),
                        static_cast<uint64_t>(index)) < 0.5f;
}

ChannelStats compute_channel_stats(const Dataset& data, int64_t max_samples) {
  const SampleShape s = data.sample_shape();
  const int64_t n = data.size();
  SIRE_CHECK(n > 0, data.name(), ": no samples to compute channel statistics from");
  const int64_t count = max_samples > 0 && max_samples < n ? max_samples : n;
  const int64_t plane = int64_t{s.height} * s.width;
  std::vector<uint64_t> sum(static_cast<size_t>(s.channels), 0), sum_sq(sum);
  std::vector<uint8_t> buf(static_cast<size_t>(s.numel()));
  int32_t label = 0;
  for (int64_t k = 0; k < count; ++k) {
    data.load(k * n / count, buf.data(), &label);  // evenly spaced when count < n
    for (int c = 0; c < s.channels; ++c) {
      uint64_t a = 0, b = 0;
      for (int64_t i = 0; i < plane; ++i) {
        const uint64_t v = buf[static_cast<size_t>(c * plane + i)];
        a += v;
        b += v * v;
      }
      sum[c] += a;
      sum_sq[c] += b;
    }
  }
  ChannelStats st;
  const double pixels = static_cast<double>(count) * static_cast<double>(plane);
  for (int c = 0; c < s.channels; ++c) {
    const double mean = static_cast<double>(sum[c]) / pixels;
    const double var = std::max(0.0, static_cast<double>(sum_sq[c]) / pixels - mean * mean);
    st.mean.push_back(static_cast<float>(mean / 255.0));
    st.std.push_back(static_cast<float>(std::sqrt(var) / 255.0));
  }
  return st;
}

}  // namespace sire::data
