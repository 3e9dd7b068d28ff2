#include "kernels/cpu/conv_winograd.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>

#if defined(__AVX512F__)
// GCC 12's unpack and shuffle intrinsics start from _mm512_undefined_ps(), which -Wmaybe-
// uninitialized reports wherever they are inlined (its self-initialization is deliberate).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#endif

#include "kernels/common/winograd.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/parallel.h"

namespace sire::cpu {
namespace {

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

int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

// A block of samples gives the 36 products about this many rows (tiles) each: chosen from 64 to
// 1024 in noisy runs (64 was slower at 32x32, 512 and more at 16x16).
constexpr int64_t kBlockRows = 128;
constexpr int64_t kMinChannels = 16;    // where it fits
constexpr int64_t kAutoChannels = 128;  // where it is used by default

std::atomic<int> g_use{-1};  // a WinogradUse; -1: not read from the environment yet

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

// U[p][c][k] (rows of kp; the columns from K on zero, so that M's are too), a vector of 16
// output channels at a time. flip: the kernel of the flipped convolution, read in place.
void transform_weights(const float* w, const ConvGeom& g, const Grid& gr, bool flip, float* u) {
  const int64_t kblocks = gr.kp / kLanes;
  parallel_for(0, g.C * kblocks, 4, [&](int64_t lo, int64_t hi) {
    for (int64_t item = lo; item < hi; ++item) {
      const int64_t c = item / kblocks, k0 = item % kblocks * kLanes;
      Lanes taps[9], t[kPoints];
      for (int tap = 0; tap < 9; ++tap) {
        for (int l = 0; l < kLanes; ++l) {
          const int64_t k = k0 + l;
          taps[tap][l] = k >= g.K ? 0.0f
                         : flip   ? w[(c * g.K + k) * 9 + (8 - tap)]
                                  : w[(k * g.C + c) * 9 + tap];
        }
      }
      winograd::weight_tile(taps, t);
      for (int p = 0; p < kPoints; ++p) store(u + (p * g.C + c) * gr.kp + k0, t[p]);
    }
  });
}

// xt[(h gr.wp + w) gr.cp + c] = x[c][h - 1][w - 1] inside the image, 0 elsewhere. Only the
// border pixels and the channels from C on are zeroed: the image's are written once.
void lay_out_sample(const float* x, const ConvGeom& g, const Grid& gr, float* xt) {
  const size_t pixel = static_cast<size_t>(gr.cp) * sizeof(float);
  for (int64_t h = 0; h < gr.hp; ++h) {
    float* row = xt + h * gr.wp * gr.cp;
    if (h == 0 || h > g.H) {
      std::memset(row, 0, static_cast<size_t>(gr.wp) * pixel);
      continue;
    }
    std::memset(row, 0, pixel);
    std::memset(row + (g.W + 1) * gr.cp, 0, static_cast<size_t>(gr.wp - g.W - 1) * pixel);
    if (gr.cp > g.C)
      for (int64_t w = 1; w <= g.W; ++w)
        std::memset(row + w * gr.cp + g.C, 0, static_cast<size_t>(gr.cp - g.C) * sizeof(float));
  }
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t h = 0; h < g.H; ++h) {
      const float* src = x + (c * g.H + h) * g.W;
      float* dst = xt + ((h + 1) * gr.wp + 1) * gr.cp + c;
      for (int64_t w = 0; w < g.W; ++w) dst[w * gr.cp] = src[w];
    }
}

// V[p][t][c] (rows of cp) for the tiles of one sample, t counted from `t0`.
void transform_input(const float* xt, const Grid& gr, int64_t t0, int64_t rows, float* v) {
  for (int64_t ty = 0; ty < gr.th; ++ty)
    for (int64_t tx = 0; tx < gr.tw; ++tx) {
      const int64_t t = t0 + ty * gr.tw + tx;
      const float* corner = xt + (kOut * ty * gr.wp + kOut * tx) * gr.cp;
      for (int64_t c0 = 0; c0 < gr.cp; c0 += kLanes) {
        Lanes d[kPoints], out[kPoints];
        for (int i = 0; i < kIn; ++i)
          for (int j = 0; j < kIn; ++j)
            d[i * kIn + j] = load(corner + (i * gr.wp + j) * gr.cp + c0);
        winograd::input_tile(d, out);
        for (int p = 0; p < kPoints; ++p) store(v + (p * rows + t) * gr.cp + c0, out[p]);
      }
    }
}

// Writes a whole 4x4 tile of 16 channels: out[i * 4 + j][l] to plane l, row i, column j (planes
// `plane` floats apart, rows `width`). Each row of 4 is one 16-byte store: the four vectors of a
// row are transposed into one 4-float group a channel (unpack, then shuffle, per 128-bit lane).
void store_tile(const Lanes* out, float* y, int64_t plane, int64_t width) {
#if defined(__AVX512F__)
  for (int i = 0; i < kOut; ++i) {
    const __m512 a0 = (__m512)out[i * kOut], a1 = (__m512)out[i * kOut + 1],
                 a2 = (__m512)out[i * kOut + 2], a3 = (__m512)out[i * kOut + 3];
    const __m512 t0 = _mm512_unpacklo_ps(a0, a1), t1 = _mm512_unpackhi_ps(a0, a1);
    const __m512 t2 = _mm512_unpacklo_ps(a2, a3), t3 = _mm512_unpackhi_ps(a2, a3);
    // q[r] holds channel 4 g + r's row in its 128-bit lane g.
    const __m512 q[4] = {_mm512_shuffle_ps(t0, t2, 0x44), _mm512_shuffle_ps(t0, t2, 0xee),
                         _mm512_shuffle_ps(t1, t3, 0x44), _mm512_shuffle_ps(t1, t3, 0xee)};
    float* row = y + i * width;
    for (int r = 0; r < 4; ++r) {
      _mm_storeu_ps(row + (0 + r) * plane, _mm512_extractf32x4_ps(q[r], 0));
      _mm_storeu_ps(row + (4 + r) * plane, _mm512_extractf32x4_ps(q[r], 1));
      _mm_storeu_ps(row + (8 + r) * plane, _mm512_extractf32x4_ps(q[r], 2));
      _mm_storeu_ps(row + (12 + r) * plane, _mm512_extractf32x4_ps(q[r], 3));
    }
  }
#else
  for (int l = 0; l < kLanes; ++l)
    for (int i = 0; i < kOut; ++i)
      for (int j = 0; j < kOut; ++j) y[l * plane + i * width + j] = out[i * kOut + j][l];
#endif
}

// y (one sample, NCHW) from M[p][t][k] (rows of kp), t counted from `t0`.
void transform_output(const float* m, const ConvGeom& g, const Grid& gr, int64_t t0, int64_t rows,
                      float* y) {
  for (int64_t ty = 0; ty < gr.th; ++ty)
    for (int64_t tx = 0; tx < gr.tw; ++tx) {
      const int64_t t = t0 + ty * gr.tw + tx;
      const int64_t h0 = kOut * ty, w0 = kOut * tx;
      const int64_t hn = std::min<int64_t>(kOut, g.H - h0), wn = std::min<int64_t>(kOut, g.W - w0);
      for (int64_t k0 = 0; k0 < g.K; k0 += kLanes) {
        Lanes mt[kPoints], out[kOut * kOut];
        for (int p = 0; p < kPoints; ++p) mt[p] = load(m + (p * rows + t) * gr.kp + k0);
        winograd::output_tile(mt, out);
        const int lanes = static_cast<int>(std::min<int64_t>(kLanes, g.K - k0));
        if (lanes == kLanes && hn == kOut && wn == kOut) {
          store_tile(out, y + (k0 * g.H + h0) * g.W + w0, g.hw(), g.W);
          continue;
        }
        for (int l = 0; l < lanes; ++l) {
          float* plane = y + ((k0 + l) * g.H + h0) * g.W + w0;
          for (int64_t i = 0; i < hn; ++i)
            for (int64_t j = 0; j < wn; ++j) plane[i * g.W + j] = out[i * kOut + j][l];
        }
      }
    }
}

}  // namespace

WinogradUse winograd_use() {
  int u = g_use.load(std::memory_order_relaxed);
  if (u < 0) {
    const char* e = std::getenv("SIRE_CPU_WINOGRAD");
    const WinogradUse w = !e                         ? WinogradUse::kAuto
                          : std::strcmp(e, "0") == 0 ? WinogradUse::kOff
                          : std::strcmp(e, "1") == 0 ? WinogradUse::kAlways
                                                     : WinogradUse::kAuto;
    u = static_cast<int>(w);
    g_use.store(u, std::memory_order_relaxed);
  }
  return static_cast<WinogradUse>(u);
}

void set_winograd_use(WinogradUse use) {
  g_use.store(static_cast<int>(use), std::memory_order_relaxed);
}

// 3x3 "same" at stride 1, 16 or more channels each side, and a plane the 4x4 tiles cover with
// at most 70% of the direct multiplications (2x2 planes and narrower are left to the others).
bool winograd_conv_fits(const ConvGeom& g) {
  if (g.R != 3 || g.S != 3 || g.stride_h != 1 || g.stride_w != 1 || g.pad_h != 1 || g.pad_w != 1 ||
      g.P != g.H || g.Q != g.W)
    return false;
  if (g.C < kMinChannels || g.K < kMinChannels || g.H < 1 || g.W < 1) return false;
  const Grid gr(g);
  return kPoints * gr.tiles * 10 <= 7 * 9 * g.H * g.W;
}

bool winograd_conv_applies(const ConvGeom& g) {
  switch (winograd_use()) {
    case WinogradUse::kOff:
      return false;
    case WinogradUse::kAlways:
      return winograd_conv_fits(g);
    case WinogradUse::kAuto:
      break;
  }
  return winograd_conv_fits(g) && g.C >= kAutoChannels && g.K >= kAutoChannels;
}

void winograd_conv_forward(const float* x, const float* w, float* y, const ConvGeom& g, bool flip) {
  const Grid gr(g);
  float* u =
      static_cast<float*>(workspace(3, static_cast<size_t>(kPoints * g.C * gr.kp) * sizeof(float)));
  transform_weights(w, g, gr, flip, u);
  const int64_t chunk = std::clamp<int64_t>((kBlockRows + gr.tiles - 1) / gr.tiles, 1, g.N);
  float* v = static_cast<float*>(
      workspace(1, static_cast<size_t>(kPoints * chunk * gr.tiles * gr.cp) * sizeof(float)));
  float* m = static_cast<float*>(
      workspace(2, static_cast<size_t>(kPoints * chunk * gr.tiles * gr.kp) * sizeof(float)));
  for (int64_t n0 = 0; n0 < g.N; n0 += chunk) {
    const int64_t count = std::min(chunk, g.N - n0), rows = count * gr.tiles;
    parallel_for(0, count, 1, [&](int64_t lo, int64_t hi) {
      float* xt = static_cast<float*>(
          workspace(0, static_cast<size_t>(gr.hp * gr.wp * gr.cp) * sizeof(float)));
      for (int64_t j = lo; j < hi; ++j) {
        lay_out_sample(x + (n0 + j) * g.C * g.hw(), g, gr, xt);
        transform_input(xt, gr, j * gr.tiles, rows, v);
      }
    });
    // One product a point; inside the parallel region OpenBLAS runs each on one thread.
    parallel_for(0, kPoints, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t p = lo; p < hi; ++p)
        gemm<float>(false, false, rows, gr.kp, g.C, 1.0f, v + p * rows * gr.cp, gr.cp,
                    u + p * g.C * gr.kp, gr.kp, 0.0f, m + p * rows * gr.kp, gr.kp);
    });
    parallel_for(0, count, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t j = lo; j < hi; ++j)
        transform_output(m, g, gr, j * gr.tiles, rows, y + (n0 + j) * g.K * g.hw());
    });
  }
}

}  // namespace sire::cpu
