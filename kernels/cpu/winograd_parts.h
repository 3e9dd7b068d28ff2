// The parts of Winograd F(4x4, 3x3) that its forward (conv_winograd.cpp) and its weight
// gradient (conv_winograd_wgrad.cpp) share: the 16-channel vectors the transforms run on, the
// tile grid, the laid-out sample, the input transform and the products' register tile.
// Internal to those two files (kernels/cpu/conv_winograd.h is the interface).
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <utility>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "kernels/common/conv_geometry.h"
#include "kernels/common/winograd.h"
#include "kernels/cpu/conv_tile.h"

namespace sire::cpu::winograd_parts {

using winograd::kIn;
using winograd::kOut;
using winograd::kPoints;

// 16 floats that every transform treats alike: one vector (GCC's vector extension, so the
// shared transforms in kernels/common/winograd.h run on it unchanged).
constexpr int kLanes = 16;
using Lanes = float __attribute__((vector_size(kLanes * sizeof(float))));

inline Lanes load(const float* p) {
  Lanes v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store(float* p, const Lanes& v) { std::memcpy(p, &v, sizeof v); }

inline int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

// The products' register tile: kTileRows tiles x kTileVecs vectors of 16 output channels (24
// of the 32 registers accumulate), and the panel of output channels a job multiplies at a time.
constexpr int kTileRows = 6;
constexpr int kTileVecs = 4;
constexpr int64_t kPanel = kTileVecs * 16;
// Blocks of samples (the forward's from 256 input channels, the weight gradient's) hold at most
// about this many floats of transformed tiles (6 MiB, read by both threads from the shared L3).
constexpr int64_t kBlockFloats = int64_t{3} << 19;
// The 36 points' matrices (V, M, the output gradient's, dU) lie this many floats more than their
// size apart: at power-of-two strides (64 KiB for 256 tiles of 64 channels) the 36 stores of a
// transformed tile fall in one cache set, and the weight gradient ran at half speed.
constexpr int64_t kSkew = 16;

// The tile grid of a sample, and its laid-out copy: (4 th + 2) x (4 tw + 2) pixels of cp floats
// (channels rounded up to whole vectors, the extra ones zero), the image at (1, 1).
struct Grid {
  int64_t th, tw, tiles, hp, wp, cp, kp;
  explicit Grid(const ConvGeom& g)
      : th((g.H + kOut - 1) / kOut),
        tw((g.W + kOut - 1) / kOut),
        tiles(th * tw),
        hp(kOut * th + 2),
        wp(kOut * tw + 2),
        cp(round_up(g.C, kLanes)),
        kp(round_up(g.K, kLanes)) {}
};

#if defined(__AVX512F__)
// r[j] = column j of the 16 x 16 block r (rows r[i]): 4x4 transposes within each 128-bit lane
// (unpack, then shuffle), then of the 128-bit lanes across groups of four rows.
inline void transpose16(__m512* r) {
  __m512 t[16];
  for (int i = 0; i < 16; i += 4) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    t[i + 2] = _mm512_unpacklo_ps(r[i + 2], r[i + 3]);
    t[i + 3] = _mm512_unpackhi_ps(r[i + 2], r[i + 3]);
  }
  for (int i = 0; i < 16; i += 4) {  // r[i + q], lane l: column 4 l + q of rows i..i+3
    r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
    r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xee);
    r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xee);
  }
  for (int q = 0; q < 4; ++q) {
    const __m512 a = _mm512_shuffle_f32x4(r[q], r[4 + q], 0x44);
    const __m512 b = _mm512_shuffle_f32x4(r[q], r[4 + q], 0xee);
    const __m512 c = _mm512_shuffle_f32x4(r[8 + q], r[12 + q], 0x44);
    const __m512 d = _mm512_shuffle_f32x4(r[8 + q], r[12 + q], 0xee);
    t[q] = _mm512_shuffle_f32x4(a, c, 0x88);
    t[4 + q] = _mm512_shuffle_f32x4(a, c, 0xdd);
    t[8 + q] = _mm512_shuffle_f32x4(b, d, 0x88);
    t[12 + q] = _mm512_shuffle_f32x4(b, d, 0xdd);
  }
  for (int j = 0; j < 16; ++j) r[j] = t[j];
}
#endif

// xt[(h gr.wp + w) cp + c] = x[c][h - 1][w - 1] inside the image, 0 elsewhere, for the rows
// h of [h0, h0 + rows) (xt's row 0 is row h0): the border zeroed, the image (and the spare
// channels from C on, as zeros) written once, 16 channels x 16 pixels at a time transposed in
// registers (column by column, each store would be a cache miss: a laid-out sample is ~300 KB).
inline void lay_out_rows(const float* x, int64_t C, int64_t cp, const ConvGeom& g, const Grid& gr,
                         int64_t h0, int64_t rows, float* xt) {
  const size_t pixel = static_cast<size_t>(cp) * sizeof(float);
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t h = h0 + r;
    float* row = xt + r * gr.wp * cp;
    if (h == 0 || h > g.H) {
      std::memset(row, 0, static_cast<size_t>(gr.wp) * pixel);
      continue;
    }
    std::memset(row, 0, pixel);
    std::memset(row + (g.W + 1) * cp, 0, static_cast<size_t>(gr.wp - g.W - 1) * pixel);
  }
  const int64_t first = std::max<int64_t>(h0, 1), end = std::min(h0 + rows, g.H + 1);
#if defined(__AVX512F__)
  // Channel blocks outermost: 16 planes read in order, streams the prefetcher can follow.
  for (int64_t c0 = 0; c0 < cp; c0 += 16)
    for (int64_t h = first; h < end; ++h)
      for (int64_t w0 = 0; w0 < g.W; w0 += 16) {
        const int64_t wn = std::min<int64_t>(16, g.W - w0);
        const auto mask = static_cast<__mmask16>((1u << wn) - 1u);
        float* dst = xt + ((h - h0) * gr.wp + 1 + w0) * cp;
        __m512 r[16];
        for (int i = 0; i < 16; ++i)
          r[i] = c0 + i < C ? _mm512_maskz_loadu_ps(mask, x + ((c0 + i) * g.H + h - 1) * g.W + w0)
                            : _mm512_setzero_ps();
        transpose16(r);
        for (int64_t j = 0; j < wn; ++j) _mm512_storeu_ps(dst + j * cp + c0, r[j]);
      }
#else
  for (int64_t h = first; h < end; ++h)
    for (int64_t w = 0; w < g.W; ++w) {
      float* dst = xt + ((h - h0) * gr.wp + 1 + w) * cp;
      for (int64_t c = 0; c < cp; ++c) dst[c] = c < C ? x[(c * g.H + h - 1) * g.W + w] : 0.0f;
    }
#endif
}

// The whole sample: (4 th + 2) x (4 tw + 2) pixels of cp floats, the image at (1, 1).
inline void lay_out_sample(const float* x, int64_t C, int64_t cp, const ConvGeom& g, const Grid& gr,
                           float* xt) {
  lay_out_rows(x, C, cp, g, gr, 0, gr.hp, xt);
}

// V for the tile whose 6x6 input starts at `corner` of a laid-out sample (rows gr.wp pixels
// apart): point p's C values at v + p vpoint.
inline void transform_input_at(const float* corner, const Grid& gr, int64_t vpoint, float* v) {
  for (int64_t c0 = 0; c0 < gr.cp; c0 += kLanes) {
    Lanes d[kPoints], out[kPoints];
    for (int i = 0; i < kIn; ++i)
      for (int j = 0; j < kIn; ++j) d[i * kIn + j] = load(corner + (i * gr.wp + j) * gr.cp + c0);
    winograd::input_tile(d, out);
    for (int p = 0; p < kPoints; ++p) store(v + p * vpoint + c0, out[p]);
  }
}

// V for tile t of a laid-out sample: point p's C values at v + p vpoint.
inline void transform_input(const float* xt, const Grid& gr, int64_t t, int64_t vpoint, float* v) {
  transform_input_at(xt + (kOut * (t / gr.tw) * gr.wp + kOut * (t % gr.tw)) * gr.cp, gr, vpoint, v);
}

// Lays out sample x (C channels, cp with the spare ones) in xt and transforms its tiles into V:
// tile t's point p at v + t cp + p vpoint. The block schedules' first step.
inline void transform_sample(const float* x, int64_t C, const ConvGeom& g, const Grid& gr,
                             float* xt, int64_t vpoint, float* v) {
  lay_out_sample(x, C, gr.cp, g, gr, xt);
  for (int64_t t = 0; t < gr.tiles; ++t) transform_input(xt, gr, t, vpoint, v + t * gr.cp);
}

// M[i][k] (+)= sum over c of V[i][c] U[c][k], for MR rows of V (V[i][c] at v + i vrow + c vred)
// and NV vectors of 16 columns (U's rows ldu apart, M's ldm), summed in c's order: the same bits
// on any number of threads. Accumulating adds the new sum to M's (not M to each term), so that
// a long sum taken in runs rounds like runs, not like one sequence. The forward multiplies
// transformed tiles (rows) by U; the weight gradient transformed output gradients (rows: output
// channels, c: tiles) by V.
template <int MR, int NV>
inline void product_tile(const float* v, int64_t vrow, int64_t vred, const float* u, int64_t ldu,
                         int64_t C, float* m, int64_t ldm, bool accumulate) {
#if defined(__AVX512F__)
  __m512 acc[MR][NV];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NV; ++j) acc[i][j] = _mm512_setzero_ps();
  for (int64_t c = 0; c < C; ++c, v += vred, u += ldu) {
    __m512 b[NV];
    for (int j = 0; j < NV; ++j) b[j] = in_register(_mm512_loadu_ps(u + 16 * j));
    for (int i = 0; i < MR; ++i) {
      const __m512 a = _mm512_set1_ps(v[i * vrow]);
      for (int j = 0; j < NV; ++j) acc[i][j] = _mm512_fmadd_ps(a, b[j], acc[i][j]);
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NV; ++j) {
      float* out = m + i * ldm + 16 * j;
      _mm512_storeu_ps(out,
                       accumulate ? _mm512_add_ps(_mm512_loadu_ps(out), acc[i][j]) : acc[i][j]);
    }
#else
  for (int i = 0; i < MR; ++i)
    for (int k = 0; k < NV * kLanes; ++k) {
      float s = 0.0f;
      for (int64_t c = 0; c < C; ++c) s += v[i * vrow + c * vred] * u[c * ldu + k];
      m[i * ldm + k] = accumulate ? m[i * ldm + k] + s : s;
    }
#endif
}

using ProductFn = void (*)(const float*, int64_t, int64_t, const float*, int64_t, int64_t, float*,
                           int64_t, bool);

template <int MR, int... NV>
constexpr std::array<ProductFn, kTileVecs> products_of(std::integer_sequence<int, NV...>) {
  return {&product_tile<MR, NV + 1>...};
}
template <int... MR>
constexpr std::array<std::array<ProductFn, kTileVecs>, kTileRows> product_table(
    std::integer_sequence<int, MR...>) {
  return {products_of<MR + 1>(std::make_integer_sequence<int, kTileVecs>())...};
}
// kProducts[MR - 1][NV - 1]
inline constexpr auto kProducts = product_table(std::make_integer_sequence<int, kTileRows>());

// Samples a block of the block schedules: n split into equal blocks of at most `fit` (not from
// the thread count: the weight gradient's sums run by block, and its bits must not depend on it).
inline int64_t samples_per_block(int64_t n, int64_t fit) {
  const int64_t blocks = (n + fit - 1) / fit;
  return (n + blocks - 1) / blocks;
}

}  // namespace sire::cpu::winograd_parts
