#include "data/resize.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/error.h"

namespace sire::data {
namespace {

// The taps of every output position along one axis: out[i] = sum_k weight[i][k] * in[first[i] + k].
struct Taps {
  std::vector<int> first, count;
  std::vector<float> weight;  // max_count per output position
  int max_count = 0;
};

Taps make_taps(int in_size, int out_size) {
  const double scale = static_cast<double>(in_size) / out_size;
  const double stretch = std::max(scale, 1.0);  // widen the triangle only when shrinking
  const double support = stretch;               // the triangle's half-width, in input pixels
  Taps t;
  t.max_count = static_cast<int>(std::ceil(support)) * 2 + 1;
  t.first.resize(static_cast<size_t>(out_size));
  t.count.resize(static_cast<size_t>(out_size));
  t.weight.assign(static_cast<size_t>(out_size) * t.max_count, 0.0f);
  std::vector<double> w(static_cast<size_t>(t.max_count));
  for (int i = 0; i < out_size; ++i) {
    const double center = (i + 0.5) * scale;
    const int lo = std::max(0, static_cast<int>(std::floor(center - support + 0.5)));
    const int hi = std::min(in_size, static_cast<int>(std::floor(center + support + 0.5)));
    double total = 0;
    int n = 0;
    for (int k = lo; k < hi && n < t.max_count; ++k, ++n) {
      w[n] = std::max(0.0, 1.0 - std::abs((k + 0.5 - center) / stretch));
      total += w[n];
    }
    SIRE_CHECK(n > 0 && total > 0, "resize: no input pixel near output ", i, " (", in_size, " -> ",
               out_size, ")");
    t.first[i] = lo;
    t.count[i] = n;
    for (int k = 0; k < n; ++k)
      t.weight[static_cast<size_t>(i) * t.max_count + k] = static_cast<float>(w[k] / total);
  }
  return t;
}

}  // namespace

void resize_bilinear_hwc_to_chw(const uint8_t* in, int in_w, int in_h, int channels, uint8_t* out,
                                int out_w, int out_h) {
  SIRE_CHECK(in_w > 0 && in_h > 0 && out_w > 0 && out_h > 0 && channels > 0, "resize: bad sizes ",
             in_w, "x", in_h, " -> ", out_w, "x", out_h, " of ", channels, " channels");
  const Taps tx = make_taps(in_w, out_w), ty = make_taps(in_h, out_h);
  // Horizontal pass: in_h rows of out_w pixels, still interleaved, in float.
  std::vector<float> rows(static_cast<size_t>(in_h) * out_w * channels);
  for (int y = 0; y < in_h; ++y) {
    const uint8_t* src = in + static_cast<size_t>(y) * in_w * channels;
    float* dst = rows.data() + static_cast<size_t>(y) * out_w * channels;
    for (int x = 0; x < out_w; ++x) {
      const float* w = &tx.weight[static_cast<size_t>(x) * tx.max_count];
      for (int c = 0; c < channels; ++c) {
        float acc = 0;
        for (int k = 0; k < tx.count[x]; ++k)
          acc += w[k] * src[static_cast<size_t>(tx.first[x] + k) * channels + c];
        dst[static_cast<size_t>(x) * channels + c] = acc;
      }
    }
  }
  // Vertical pass: each output row is a weighted sum of whole rows (contiguous, so it
  // vectorizes), then rounded and written channel-major.
  const size_t plane = static_cast<size_t>(out_w) * out_h,
               row_len = static_cast<size_t>(out_w) * channels;
  std::vector<float> line(row_len);
  for (int y = 0; y < out_h; ++y) {
    std::fill(line.begin(), line.end(), 0.0f);
    const float* w = &ty.weight[static_cast<size_t>(y) * ty.max_count];
    for (int k = 0; k < ty.count[y]; ++k) {
      const float* r = rows.data() + static_cast<size_t>(ty.first[y] + k) * row_len;
      for (size_t j = 0; j < row_len; ++j) line[j] += w[k] * r[j];
    }
    for (int x = 0; x < out_w; ++x)
      for (int c = 0; c < channels; ++c) {
        const float v = std::min(
            255.0f, std::max(0.0f, std::round(line[static_cast<size_t>(x) * channels + c])));
        out[c * plane + static_cast<size_t>(y) * out_w + x] = static_cast<uint8_t>(v);
      }
  }
}

}  // namespace sire::data
