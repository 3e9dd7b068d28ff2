// The 8-output-channel x 32-position register tile shared by the CPU's direct and
// implicit-GEMM convolutions (AVX-512, float), and the weight layout it reads.
#pragma once

#if defined(__AVX512F__)
#include <immintrin.h>

#include <cstdint>

#include "kernels/common/conv_geometry.h"

namespace sire::cpu {

// Keeps a loaded vector in a register: without it GCC folds the load into every FMA that uses
// it, reading the same (often cache-line-splitting) vector once per output channel.
inline __m512 in_register(__m512 v) {
  __asm__("" : "+v"(v));
  return v;
}

// The sum of a vector's 16 lanes in a fixed pairwise tree (halves, then quarters, ...): 4
// additions on the critical path instead of 16, for kernels that reduce many vectors. (Through
// memory: GCC 12's 512-to-256-bit extract intrinsics warn about an undefined operand.)
inline float tree_sum(__m512 v) {
  alignas(64) float l[16];
  _mm512_store_ps(l, v);
  const __m128 h0 = _mm_add_ps(_mm_load_ps(l), _mm_load_ps(l + 8));
  const __m128 h1 = _mm_add_ps(_mm_load_ps(l + 4), _mm_load_ps(l + 12));
  __m128 s4 = _mm_add_ps(h0, h1);
  s4 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  s4 = _mm_add_ss(s4, _mm_movehdup_ps(s4));
  return _mm_cvtss_f32(s4);
}

// Short copies and fills (rows of 32 floats, tile segments), inline: through memcpy / memset
// each call cost as much as the copy, a third of the time of the few-channel convolutions.
inline void copy_floats(float* dst, const float* src, int64_t n) {
  for (; n >= 16; n -= 16, dst += 16, src += 16) _mm512_storeu_ps(dst, _mm512_loadu_ps(src));
  if (n > 0) {
    const auto m = static_cast<__mmask16>((1u << n) - 1u);
    _mm512_mask_storeu_ps(dst, m, _mm512_maskz_loadu_ps(m, src));
  }
}

inline void zero_floats(float* dst, int64_t n) {
  for (; n >= 16; n -= 16, dst += 16) _mm512_storeu_ps(dst, _mm512_setzero_ps());
  if (n > 0) _mm512_mask_storeu_ps(dst, static_cast<__mmask16>((1u << n) - 1u), _mm512_setzero_ps());
}

// Whether a convolution can read its input as shifted_copies: 3x3, stride 1, "same" padding,
// rows of whole 16-wide vectors (every SIRe-CNN convolution from 16x16 up).
inline bool shifted_layout_applies(const ConvGeom& g) {
  return g.R == 3 && g.S == 3 && g.stride_h == 1 && g.stride_w == 1 && g.pad_h == 1 &&
         g.pad_w == 1 && g.P == g.H && g.Q == g.W && g.W % 16 == 0;
}

// dst[0..3 lp): x's plane (H x W) shifted by -1, 0 and +1 columns (zeros shifted in), each
// with a zero row above and below.
inline void shifted_copies(const float* src, int64_t H, int64_t W, int64_t lp, float* dst) {
  for (int s = 0; s < 3; ++s) {
    float* out = dst + s * lp;
    zero_floats(out, W);
    for (int64_t p = 0; p < H; ++p) {
      const float* in = src + p * W;
      float* row = out + (p + 1) * W;
      if (s == 0) {
        row[0] = 0.0f;
        copy_floats(row + 1, in, W - 1);
      } else if (s == 1) {
        copy_floats(row, in, W);
      } else {
        copy_floats(row, in + 1, W - 1);
        row[W - 1] = 0.0f;
      }
    }
    zero_floats(out + (H + 1) * W, W);
  }
}

constexpr int kMr = 8;   // output channels of a forward tile
constexpr int kNr = 32;  // positions of a forward tile (two 16-wide vectors)

// Where a forward tile's accumulators go: row i (output channel i of the tile) to out + i ld,
// its first `rows` rows and first `valid` positions. A tile buffer (ld = the tile's width) when
// the positions must be sorted out afterwards; y itself when they are a contiguous run of it
// (the shifted layout), which saves the round trip through the buffer.
struct TileDst {
  float* out;
  int64_t ld;
  int rows;
  int64_t valid;
};

// A whole tile into a buffer `width` positions wide, one row per output channel.
inline TileDst tile_buffer(float* tile, int64_t width) { return {tile, width, kMr, width}; }

// Stores vector v of a tile row: lanes [16 v, 16 v + 16) of the row, those below d.valid.
inline void store_tile_vector(const TileDst& d, int i, int v, __m512 acc) {
  const int64_t n = d.valid - 16 * v;
  float* dst = d.out + i * d.ld + 16 * v;
  if (n >= 16)
    _mm512_storeu_ps(dst, acc);
  else if (n > 0)
    _mm512_mask_storeu_ps(dst, static_cast<__mmask16>((1u << n) - 1u), acc);
}

// tile[8][32] = sum over c and taps of w[c][tap][i] * x[c L + off[tap] + t]
inline void forward_tile(const float* x, int64_t C, int64_t L, const int64_t* off, int64_t taps,
                         const float* w, const TileDst& dst) {
  __m512 acc[kMr][2];
  for (int i = 0; i < kMr; ++i) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
  for (int64_t c = 0; c < C; ++c) {
    const float* xc = x + c * L;
    const float* wc = w + c * taps * kMr;
    for (int64_t t = 0; t < taps; ++t) {
      const __m512 b0 = in_register(_mm512_loadu_ps(xc + off[t]));
      const __m512 b1 = in_register(_mm512_loadu_ps(xc + off[t] + 16));
      const float* wt = wc + t * kMr;
#pragma GCC unroll 8
      for (int i = 0; i < kMr; ++i) {
        const __m512 a = _mm512_set1_ps(wt[i]);
        acc[i][0] = _mm512_fmadd_ps(a, b0, acc[i][0]);
        acc[i][1] = _mm512_fmadd_ps(a, b1, acc[i][1]);
      }
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < kMr; ++i)
    if (i < dst.rows) {
      store_tile_vector(dst, i, 0, acc[i][0]);
      store_tile_vector(dst, i, 1, acc[i][1]);
    }
}

// For convolutions with at most 4 output channels (an image's 3 channels: the decoders' last
// transposed convolution, the first layer's input gradient), where the 8-channel tile would be
// mostly zeros: MR channels x 16 NV positions, the same packed weights (their first MR of each
// 8); all MR rows are stored (dst.rows is not read). NV as large as the registers allow (MR NV
// accumulators, MR broadcasts and one input vector within 32): each input vector loaded is used
// MR times, each broadcast NV times, so the wider the tile the fewer loads per multiply-add.
constexpr int few_tile_vectors(int MR) { return MR <= 3 ? 8 : 6; }
constexpr int kNrFew = 16 * few_tile_vectors(1);  // the widest few-channel tile
// prefetch: where to fetch `lines` cache lines of the next sample's input before each channel
// (nullptr: none); prefetches never fault, so the last tiles' may run past the input's end.
template <int MR>
inline void forward_tile_few(const float* x, int64_t C, int64_t L, const int64_t* off,
                             int64_t taps, const float* w, const TileDst& dst,
                             const char* prefetch = nullptr, int lines = 0) {
  static_assert(MR >= 1 && MR <= 4, "few-channel tile");
  constexpr int NV = few_tile_vectors(MR);
  __m512 acc[MR][NV];
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_setzero_ps();
  for (int64_t c = 0; c < C; ++c) {
    const float* xc = x + c * L;
    const float* wc = w + c * taps * kMr;
    if (prefetch)
      for (int l = 0; l < lines; ++l) _mm_prefetch(prefetch + (c * lines + l) * 64, _MM_HINT_T0);
    for (int64_t t = 0; t < taps; ++t) {
      const float* wt = wc + t * kMr;
      const float* xt = xc + off[t];
      __m512 a[MR];
      for (int i = 0; i < MR; ++i) a[i] = _mm512_set1_ps(wt[i]);
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) {
        const __m512 b = in_register(_mm512_loadu_ps(xt + 16 * v));
        for (int i = 0; i < MR; ++i) acc[i][v] = _mm512_fmadd_ps(a[i], b, acc[i][v]);
      }
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < NV; ++v) store_tile_vector(dst, i, v, acc[i][v]);
}

// Weights as [k-block][c][tap][8]: the 8 broadcasts of one step lie together; missing output
// channels of the last block are zeros. Kept in workspace slot 3 (the caller of a flipped
// convolution may hold the flipped weights in slot 2).
// flip: g is the flipped geometry of an input gradient run as a convolution, and w the original
// convolution's weight, [g.C][g.K][R][S]; it is read transposed and with its taps reversed
// while packing, instead of being flipped into a copy first.
const float* pack_weights(const float* w, const ConvGeom& g, bool flip = false);

}  // namespace sire::cpu

#endif
