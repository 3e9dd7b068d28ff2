// Convolution passes with few input channels, where the implicit GEMM of conv_problems.h would
// run mostly empty tiles: one thread per pixel with the weights in shared memory (the kernels in
// conv_forward.cu and conv_backward_data.cu). Host+device code (SIRE_HD):
// tests/test_conv_emulation.cpp runs the per-pixel functions on the CPU.
#pragma once

#include <cstdint>
#include <type_traits>

#include "kernels/common/conv_geometry.h"
#include "kernels/cuda/conv_tile.h"

namespace sire::cuda::conv {

// Backward-data with few input channels (C <= kFewChannels: the first layer's input gradient, a
// transposed convolution's forward to 3 channels). Its GEMM has C rows, so a 64-row tile would be
// mostly empty (measured on an H100: 6.3x cuDNN's time at 64 -> 3 channels). Instead one thread
// computes every channel of one input pixel: over the taps that read it and the K output
// channels, one dy element times NC weights from the block's shared copy of wd. Gathering, as
// BackwardData: one thread writes each dx element.
constexpr int kFewChannels = 8;
constexpr int kFewWeights = 6144;  // floats of weights a block of the few-channel kernels holds
struct FewChannelsBackwardData {
  const float* __restrict__ dy;
  float* __restrict__ dx;
  Geom32 g;

  // dx at input pixel `col` (of N H W) for all NC == C channels, from wd = w as [taps][K][C].
  template <int NC>
  SIRE_HD void pixel(int col, const float* wd) const {
    const int hw = g.H * g.W, pq = g.P * g.Q;
    const int img = col / hw, o = col - img * hw, h = o / g.W, w = o - h * g.W;
    const float* dyimg = dy + static_cast<int64_t>(img) * g.K * pq;
    float acc[NC];
    for (int c = 0; c < NC; ++c) acc[c] = 0.0f;
    for (int r = 0; r < g.R; ++r) {
      int op = 0;
      if (!conv_out_coord(h, r, g.sh, g.ph, g.P, &op)) continue;
      for (int s = 0; s < g.S; ++s) {
        int oq = 0;
        if (!conv_out_coord(w, s, g.sw, g.pw, g.Q, &oq)) continue;
        const float* src = dyimg + op * g.Q + oq;
        const float* wk = wd + (r * g.S + s) * g.K * NC;
        for (int k = 0; k < g.K; ++k) {
          const float v = src[static_cast<int64_t>(k) * pq];
          for (int c = 0; c < NC; ++c) acc[c] += wk[k * NC + c] * v;
        }
      }
    }
    for (int c = 0; c < NC; ++c) dx[(static_cast<int64_t>(img) * NC + c) * hw + o] = acc[c];
  }
};

// Calls f(std::integral_constant<int, NC>{}) with NC == C, for 1 <= C <= kFewChannels (the
// few-channel backward-data keeps its C accumulators in registers, so C is a template); false
// for any other C. Host code: the kernels' launcher and tests/test_conv_emulation.cpp share it.
template <class F>
bool with_channel_count(int C, const F& f) {
  static_assert(kFewChannels == 8, "one case per channel count below");
  switch (C) {
    case 1:
      return f(std::integral_constant<int, 1>{}), true;
    case 2:
      return f(std::integral_constant<int, 2>{}), true;
    case 3:
      return f(std::integral_constant<int, 3>{}), true;
    case 4:
      return f(std::integral_constant<int, 4>{}), true;
    case 5:
      return f(std::integral_constant<int, 5>{}), true;
    case 6:
      return f(std::integral_constant<int, 6>{}), true;
    case 7:
      return f(std::integral_constant<int, 7>{}), true;
    case 8:
      return f(std::integral_constant<int, 8>{}), true;
    default:
      return false;
  }
}

// Forward with few input channels (C <= kFewChannels: the first layer, and the input gradient
// of a transposed convolution to 3 channels). Its reduction has only C R S terms, and the GEMM's
// 8-deep steps are taken per tap, so with 3 channels 27 of their 72 terms are real (measured on
// an H100: 1.6x cuDNN's time). Instead one thread computes kFewOut consecutive output channels
// of one output pixel: per term, one x element (0 in the padding) times kFewOut weights from
// the block's shared copy of those channels' weights, wc[c r s][j] = w[k0 + j][c r s].
constexpr int kFewOut = 32;
struct FewChannelsForward {
  const float* __restrict__ x;
  const float* __restrict__ w;     // [K][C][R][S], as it is
  const float* __restrict__ bias;  // may be null
  float* __restrict__ y;
  Geom32 g;

  // Element i of the weight copy of output channels [k0, k0 + kFewOut) (0 past the last).
  SIRE_HD float weight(int i, int k0) const {
    const int crs = i / kFewOut, k = k0 + i % kFewOut;
    return k < g.K ? w[static_cast<int64_t>(k) * g.C * g.R * g.S + crs] : 0.0f;
  }
  SIRE_HD int weights() const { return g.C * g.R * g.S * kFewOut; }

  // y at output pixel `col` (of N P Q), output channels [k0, k0 + kFewOut) that exist.
  SIRE_HD void pixel(int col, int k0, const float* wc) const {
    const int pq = g.P * g.Q, img = col / pq, o = col - img * pq, oh = o / g.Q, ow = o - oh * g.Q;
    const int h0 = static_cast<int>(conv_in_coord(oh, 0, g.sh, g.ph));
    const int w0 = static_cast<int>(conv_in_coord(ow, 0, g.sw, g.pw));
    const float* ximg = x + static_cast<int64_t>(img) * g.C * g.H * g.W;
    float acc[kFewOut];
    for (int j = 0; j < kFewOut; ++j) acc[j] = 0.0f;
    for (int c = 0; c < g.C; ++c)
      for (int r = 0; r < g.R; ++r) {
        const int h = h0 + r;
        const bool row_in = h >= 0 && h < g.H;
        for (int s = 0; s < g.S; ++s) {
          const int w = w0 + s;
          const float v = row_in && w >= 0 && w < g.W ? ximg[(c * g.H + h) * g.W + w] : 0.0f;
          const float* wk = wc + ((c * g.R + r) * g.S + s) * kFewOut;
          for (int j = 0; j < kFewOut; ++j) acc[j] += wk[j] * v;
        }
      }
    for (int j = 0; j < kFewOut && k0 + j < g.K; ++j)
      y[(static_cast<int64_t>(img) * g.K + k0 + j) * pq + o] =
          acc[j] + (bias ? bias[k0 + j] : 0.0f);
  }
};

}  // namespace sire::cuda::conv
