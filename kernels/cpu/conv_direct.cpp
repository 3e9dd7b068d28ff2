#include "kernels/cpu/conv_direct.h"

#include "kernels/cpu/conv_tile.h"

#include <algorithm>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/parallel.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace sire::cpu {

bool direct_conv_applies(const ConvGeom& g) {
#if defined(__AVX512F__)
  return g.stride_h == 1 && g.stride_w == 1 && g.P >= 16 && g.Q >= 16 && g.R <= 7 && g.S <= 7 &&
         g.pad_h < g.R && g.pad_w < g.S;
#else
  return false;
#endif
}

// The dot products run over padded planes: at 16x16 a third of the work is padding, and the
// GEMM path is as fast; from 24 wide on the direct one wins.
bool direct_weight_grad_applies(const ConvGeom& g) {
  return direct_conv_applies(g) && g.R == 3 && g.S == 3 && g.P >= 24 && g.Q >= 24;
}

#if defined(__AVX512F__)
namespace {

// The zero-padded layout: planes of Hp x Wp, with `slack` zeros after the last one so that the
// thrown-away positions may read past it.
struct Padded {
  int64_t Hp, Wp, L, slack;
  explicit Padded(const ConvGeom& g)
      : Hp(g.H + 2 * g.pad_h), Wp(g.W + 2 * g.pad_w), L(Hp * Wp), slack(2 * Wp + kNrFew + 1) {}
};

// dst (Hp x Wp) = src (rows x cols) placed at (top, left), zeros around.
void pad_plane(const float* src, int64_t rows, int64_t cols, int64_t top, int64_t left,
               const Padded& pd, float* dst) {
  zero_floats(dst, top * pd.Wp);
  for (int64_t h = 0; h < rows; ++h) {
    float* d = dst + (top + h) * pd.Wp;
    zero_floats(d, left);
    copy_floats(d + left, src + h * cols, cols);
    zero_floats(d + left + cols, pd.Wp - left - cols);
  }
  zero_floats(dst + (top + rows) * pd.Wp, pd.L - (top + rows) * pd.Wp);
}

}  // namespace

const float* pack_weights(const float* w, const ConvGeom& g, bool flip) {
  const int64_t taps = g.R * g.S, kblocks = (g.K + kMr - 1) / kMr;
  float* wp = static_cast<float*>(workspace(3, static_cast<size_t>(kblocks * g.C * taps * kMr) * sizeof(float)));
  parallel_for(0, kblocks, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t kb = lo; kb < hi; ++kb)
      for (int64_t c = 0; c < g.C; ++c)
        for (int64_t t = 0; t < taps; ++t)
          for (int i = 0; i < kMr; ++i) {
            const int64_t k = kb * kMr + i;
            wp[((kb * g.C + c) * taps + t) * kMr + i] =
                k >= g.K ? 0.0f
                : flip   ? w[(c * g.K + k) * taps + (taps - 1 - t)]
                         : w[(k * g.C + c) * taps + t];
          }
  });
  return wp;
}

void direct_conv_forward(const float* x, const float* w, float* y, const ConvGeom& g, bool flip) {
  const Padded pd(g);
  const int64_t taps = g.R * g.S, kblocks = (g.K + kMr - 1) / kMr;
  // Two layouts of a sample's input. A 3x3 "same" convolution with W a multiple of 16 (all of
  // SIRe-CNN's from 16x16 up) reads three copies of each plane shifted by -1, 0, +1 columns,
  // with a zero row above and below (shifted_copies): position i = p W + q is output (p, q)
  // itself, tap (r, s) is copy s at i + r W, every load is aligned and no position is thrown
  // away. Otherwise planes padded on all sides, Wp wide: tap (r, s) at i + r Wp + s, unaligned,
  // and the Wp - Q positions at the end of each row computed and dropped.
  // Up to 4 output channels (few) take the padded layout: their arithmetic per input value is
  // too small to pay for three copies of it (dec1b's forward 119-122 -> 134 GFLOP/s).
  const bool few = g.K <= 4;
  const bool shifted = shifted_layout_applies(g) && !few;
  const int64_t lp = (g.H + 2) * g.W;  // a shifted copy
  const int64_t plane = shifted ? 3 * lp : pd.L, row = shifted ? g.W : pd.Wp;
  const int64_t positions = g.P * row, slack = shifted ? kNr : pd.slack;
  std::vector<int64_t> off(static_cast<size_t>(taps));
  for (int64_t r = 0; r < g.R; ++r)
    for (int64_t s = 0; s < g.S; ++s) off[r * g.S + s] = shifted ? s * lp + r * g.W : r * pd.Wp + s;
  const float* wp = pack_weights(w, g, flip);
  // Samples split across threads; each lays out its sample in its own buffer (in its cache).
  parallel_for(0, g.N, 1, [&](int64_t lo, int64_t hi) {
    float* xp = static_cast<float*>(workspace(0, static_cast<size_t>(g.C * plane + slack) * sizeof(float)));
    std::fill(xp + g.C * plane, xp + g.C * plane + slack, 0.0f);
    // Up to 4 output channels: the few-channel tile (3 x 128, 4 x 96) instead of a mostly empty
    // 8 x 32 one. `width` positions per tile; the slack covers reads past the last plane.
    const int64_t width = few ? 16 * few_tile_vectors(static_cast<int>(g.K)) : kNr;
    alignas(64) float tile[std::max(kMr * kNr, 3 * kNrFew)];
    // With few output channels there are few multiply-adds per input value (27 for 3), and
    // reading the input from memory while laying it out took a third of the time: the next
    // sample's planes are prefetched during this one's tiles instead, `lines` per channel of
    // each tile (few-channel tiles only; the others have arithmetic enough to wait).
    const int64_t tiles = (positions + width - 1) / width;
    const int lines = static_cast<int>((g.C * g.hw() * static_cast<int64_t>(sizeof(float)) / 64 +
                                        tiles * g.C - 1) / (tiles * g.C));
    const char* prefetch = nullptr;
    auto compute = [&](const float* xb, const float* wb, const TileDst& dst) {
      const int64_t* o = off.data();
      if (!few) return forward_tile(xb, g.C, plane, o, taps, wb, dst);
      switch (g.K) {
        case 1: return forward_tile_few<1>(xb, g.C, plane, o, taps, wb, dst, prefetch, lines);
        case 2: return forward_tile_few<2>(xb, g.C, plane, o, taps, wb, dst, prefetch, lines);
        case 3: return forward_tile_few<3>(xb, g.C, plane, o, taps, wb, dst, prefetch, lines);
        default: return forward_tile_few<4>(xb, g.C, plane, o, taps, wb, dst, prefetch, lines);
      }
    };
    for (int64_t n = lo; n < hi; ++n) {
      for (int64_t c = 0; c < g.C; ++c) {
        const float* src = x + (n * g.C + c) * g.hw();
        if (shifted)
          shifted_copies(src, g.H, g.W, lp, xp + c * plane);
        else
          pad_plane(src, g.H, g.W, g.pad_h, g.pad_w, pd, xp + c * plane);
      }
      float* yn = y + n * g.K * g.pq();
      const char* next =
          n + 1 < hi ? reinterpret_cast<const char*>(x + (n + 1) * g.C * g.hw()) : nullptr;
      for (int64_t base = 0; base < positions; base += width) {
        prefetch = few && next ? next + base / width * g.C * lines * 64 : nullptr;
        for (int64_t kb = 0; kb < kblocks; ++kb) {
          const int rows = static_cast<int>(std::min<int64_t>(kMr, g.K - kb * kMr));
          if (shifted) {  // position = output index: the tile's rows are runs of y
            // The lines of y that this channel block's next tile will write are fetched, for
            // writing, one tile ahead: with 3 input channels a tile has only 27 multiply-adds
            // per output to hide a store's miss behind (single-threaded 62-75 -> 82-85 GFLOP/s
            // for the first layer's forward; 64 -> 64 at 32x32 106 -> 108).
            if (base + width < positions)
              for (int i = 0; i < rows; ++i)
                for (int l = 0; l < width / 16; ++l)
                  __builtin_prefetch(yn + (kb * kMr + i) * g.pq() + base + width + 16 * l, 1, 3);
            compute(xp + base, wp + kb * g.C * taps * kMr,
                    {yn + kb * kMr * g.pq() + base, g.pq(), rows, g.pq() - base});
            continue;
          }
          compute(xp + base, wp + kb * g.C * taps * kMr, tile_buffer(tile, width));
          // Keep the positions with p < P and q < Q: a few row segments per tile.
          for (int64_t t = 0; t < width;) {
            const int64_t pos = base + t, p = pos / row, q = pos % row;
            const int64_t len = std::min(width - t, row - q);
            const int64_t valid = std::max<int64_t>(0, std::min(len, g.Q - q));
            if (p < g.P && valid > 0)
              for (int64_t i = 0; i < rows; ++i)
                copy_floats(yn + ((kb * kMr + i) * g.P + p) * g.Q + q, tile + i * width + t, valid);
            t += len;
          }
        }
      }
    }
  });
}

void direct_conv_weight_grad(const float* x, const float* dy, float* dw, const ConvGeom& g) {
  const Padded pd(g);
  const int64_t off[9] = {0, 1, 2, pd.Wp, pd.Wp + 1, pd.Wp + 2, 2 * pd.Wp, 2 * pd.Wp + 1, 2 * pd.Wp + 2};
  // Samples per group: the group's padded dY and x planes stay within about 1.5 MB.
  const int64_t per_sample = (g.K + 1 + g.C) * pd.L * static_cast<int64_t>(sizeof(float));
  const int64_t group = std::clamp<int64_t>((int64_t{3} << 19) / std::max<int64_t>(per_sample, 1), 1, g.N);
  const int64_t row = (group * pd.L + pd.slack + 15) / 16 * 16;  // one channel's planes, padded
  const int64_t kpairs = (g.K + 1) / 2;
  // dY rows (one more zero row for an odd K), then x rows.
  float* buf = static_cast<float*>(workspace(0, static_cast<size_t>((2 * kpairs + g.C) * row) * sizeof(float)));
  float* dyp = buf;
  float* xp = buf + 2 * kpairs * row;
  std::fill(dw, dw + g.K * g.crs(), 0.0f);
  for (int64_t n0 = 0; n0 < g.N; n0 += group) {
    const int64_t count = std::min(group, g.N - n0);
    const int64_t len = (count * pd.L + 15) / 16 * 16;
    // Pad every channel of the group's samples: dY at the top-left (its valid outputs), x with
    // the convolution's padding.
    parallel_for(0, 2 * kpairs + g.C, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t ch = lo; ch < hi; ++ch) {
        float* dst = buf + ch * row;
        for (int64_t j = 0; j < count; ++j) {
          const int64_t n = n0 + j;
          if (ch < g.K) {
            pad_plane(dy + (n * g.K + ch) * g.pq(), g.P, g.Q, 0, 0, pd, dst + j * pd.L);
          } else if (ch < 2 * kpairs) {
            std::fill(dst + j * pd.L, dst + (j + 1) * pd.L, 0.0f);
          } else {
            const int64_t c = ch - 2 * kpairs;
            pad_plane(x + (n * g.C + c) * g.hw(), g.H, g.W, g.pad_h, g.pad_w, pd, dst + j * pd.L);
          }
        }
        std::fill(dst + count * pd.L, dst + row, 0.0f);
      }
    });
    // dW[k][c][tap] += <dY_k, x_c shifted by tap>, two output channels by nine taps at a time.
    parallel_for(0, kpairs * g.C, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t item = lo; item < hi; ++item) {
        const int64_t kp = item / g.C, c = item % g.C;
        const float* d0 = dyp + 2 * kp * row;
        const float* d1 = d0 + row;
        const float* xc = xp + c * row;
        __m512 acc[2][9];
        for (int t = 0; t < 9; ++t) acc[0][t] = acc[1][t] = _mm512_setzero_ps();
        for (int64_t pos = 0; pos < len; pos += 16) {
          const __m512 a0 = _mm512_loadu_ps(d0 + pos), a1 = _mm512_loadu_ps(d1 + pos);
#pragma GCC unroll 9
          for (int t = 0; t < 9; ++t) {
            const __m512 b = in_register(_mm512_loadu_ps(xc + pos + off[t]));
            acc[0][t] = _mm512_fmadd_ps(a0, b, acc[0][t]);
            acc[1][t] = _mm512_fmadd_ps(a1, b, acc[1][t]);
          }
        }
        for (int i = 0; i < 2; ++i) {
          const int64_t k = 2 * kp + i;
          if (k >= g.K) break;
          float* out = dw + (k * g.C + c) * 9;
          for (int t = 0; t < 9; ++t) out[t] += tree_sum(acc[i][t]);
        }
      }
    });
  }
}

#else

void direct_conv_forward(const float*, const float*, float*, const ConvGeom&, bool) {
  SIRE_FAIL("direct convolution needs AVX-512 (build with SIRE_NATIVE on such a CPU)");
}
void direct_conv_weight_grad(const float*, const float*, float*, const ConvGeom&) {
  SIRE_FAIL("direct convolution needs AVX-512 (build with SIRE_NATIVE on such a CPU)");
}

#endif

}  // namespace sire::cpu
