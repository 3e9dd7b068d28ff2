#include "kernels/cpu/conv_winograd.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <utility>

#if defined(__AVX512F__)
// GCC 12's unpack and shuffle intrinsics start from _mm512_undefined_ps(), which -Wmaybe-
// uninitialized reports wherever they are inlined (its self-initialization is deliberate).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#endif

#include "kernels/common/winograd.h"
#include "kernels/cpu/conv_tile.h"
#include "kernels/cpu/cpu_backend.h"
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

// The products' register tile: kTileRows tiles x kTileVecs vectors of 16 output channels (24
// of the 32 registers accumulate), and the panel of output channels a job multiplies at a time.
constexpr int kTileRows = 6;
constexpr int kTileVecs = 4;
constexpr int64_t kPanel = kTileVecs * 16;
// Two schedules (winograd_conv_forward): by thread below kWideChannels input channels, jobs of
// kJobRows tiles; by block from there, blocks of V at most kBlockFloats (6 MiB, transformed by
// both threads and read from the shared L3) and jobs of kWideJobRows tiles x one panel, whose
// M (36 x 64 x 64 floats, 576 KiB) stays in L2 from the products to the output transform.
constexpr int64_t kWideChannels = 256;
constexpr int64_t kJobRows = 4 * kTileRows;
constexpr int64_t kBlockFloats = int64_t{3} << 19;
constexpr int64_t kWideJobRows = 64;
// The weight gradient sums its products over tiles in runs of this many, the runs' sums added.
constexpr int64_t kSumRun = 64;
// The 36 points' matrices (V, M, the output gradient's, dU) lie this many floats more than their
// size apart: at power-of-two strides (64 KiB for 256 tiles of 64 channels) the 36 stores of a
// transformed tile fall in one cache set, and the weight gradient ran at half speed.
constexpr int64_t kSkew = 16;
constexpr int64_t kMinChannels = 16;    // where it fits
constexpr int64_t kAutoChannels = 64;   // where it is used by default

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

// Where U[p][c][k] is: each point's C x kp matrix stored as panels of kPanel columns (the last
// one narrower), each panel's rows contiguous, so the products stream through one panel.
inline int64_t u_offset(const ConvGeom& g, const Grid& gr, int64_t p, int64_t c, int64_t k) {
  const int64_t k0 = k / kPanel * kPanel, width = std::min(kPanel, gr.kp - k0);
  return (p * gr.kp + k0) * g.C + c * width + (k - k0);
}

// U (the columns from K on zero, so that M's are too), a vector of 16 output channels at a
// time. flip: the kernel of the flipped convolution, read in place.
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
      for (int p = 0; p < kPoints; ++p) store(u + u_offset(g, gr, p, c, k0), t[p]);
    }
  });
}

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

// xt[(h gr.wp + w) cp + c] = x[c][h - 1][w - 1] inside the image, 0 elsewhere: the border
// zeroed, the image (and the spare channels from C on, as zeros) written once, 16 channels x
// 16 pixels at a time transposed in registers (column by column, each store would be a cache
// miss: the laid-out sample is ~300 KB).
void lay_out_sample(const float* x, int64_t C, int64_t cp, const ConvGeom& g, const Grid& gr,
                    float* xt) {
  const size_t pixel = static_cast<size_t>(cp) * sizeof(float);
  for (int64_t h = 0; h < gr.hp; ++h) {
    float* row = xt + h * gr.wp * cp;
    if (h == 0 || h > g.H) {
      std::memset(row, 0, static_cast<size_t>(gr.wp) * pixel);
      continue;
    }
    std::memset(row, 0, pixel);
    std::memset(row + (g.W + 1) * cp, 0, static_cast<size_t>(gr.wp - g.W - 1) * pixel);
  }
#if defined(__AVX512F__)
  // Channel blocks outermost: 16 planes read in order, streams the prefetcher can follow.
  for (int64_t c0 = 0; c0 < cp; c0 += 16)
    for (int64_t h = 0; h < g.H; ++h)
      for (int64_t w0 = 0; w0 < g.W; w0 += 16) {
        const int64_t wn = std::min<int64_t>(16, g.W - w0);
        const auto mask = static_cast<__mmask16>((1u << wn) - 1u);
        float* dst = xt + ((h + 1) * gr.wp + 1 + w0) * cp;
        __m512 r[16];
        for (int i = 0; i < 16; ++i)
          r[i] = c0 + i < C ? _mm512_maskz_loadu_ps(mask, x + ((c0 + i) * g.H + h) * g.W + w0)
                            : _mm512_setzero_ps();
        transpose16(r);
        for (int64_t j = 0; j < wn; ++j) _mm512_storeu_ps(dst + j * cp + c0, r[j]);
      }
#else
  for (int64_t h = 0; h < g.H; ++h)
    for (int64_t w = 0; w < g.W; ++w) {
      float* dst = xt + ((h + 1) * gr.wp + 1 + w) * cp;
      for (int64_t c = 0; c < cp; ++c) dst[c] = c < C ? x[(c * g.H + h) * g.W + w] : 0.0f;
    }
#endif
}

// V for tile t of a laid-out sample: point p's C values at v + p vpoint.
void transform_input(const float* xt, const Grid& gr, int64_t t, int64_t vpoint, float* v) {
  const float* corner = xt + (kOut * (t / gr.tw) * gr.wp + kOut * (t % gr.tw)) * gr.cp;
  for (int64_t c0 = 0; c0 < gr.cp; c0 += kLanes) {
    Lanes d[kPoints], out[kPoints];
    for (int i = 0; i < kIn; ++i)
      for (int j = 0; j < kIn; ++j) d[i * kIn + j] = load(corner + (i * gr.wp + j) * gr.cp + c0);
    winograd::input_tile(d, out);
    for (int p = 0; p < kPoints; ++p) store(v + p * vpoint + c0, out[p]);
  }
}

// The transformed output gradient A dY A^T of tile t of a laid-out dY (laid out as x is, the
// plane at (1, 1)): point p's kp values at yh + p ypoint.
void transform_output_grad(const float* dyt, const Grid& gr, int64_t t, int64_t ypoint, float* yh) {
  const float* corner = dyt + ((kOut * (t / gr.tw) + 1) * gr.wp + kOut * (t % gr.tw) + 1) * gr.kp;
  for (int64_t k0 = 0; k0 < gr.kp; k0 += kLanes) {
    Lanes d[kOut * kOut], out[kPoints];
    for (int i = 0; i < kOut; ++i)
      for (int j = 0; j < kOut; ++j) d[i * kOut + j] = load(corner + (i * gr.wp + j) * gr.kp + k0);
    winograd::output_grad_tile(d, out);
    for (int p = 0; p < kPoints; ++p) store(yh + p * ypoint + k0, out[p]);
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

// Tile t of one sample's y (NCHW), output channels [k0, k0 + kn), from the point-major products
// m[p * pstride + k - k0].
void transform_output(const float* m, int64_t pstride, const ConvGeom& g, const Grid& gr, int64_t t,
                      int64_t k0, int64_t kn, float* y) {
  const int64_t h0 = kOut * (t / gr.tw), w0 = kOut * (t % gr.tw);
  const int64_t hn = std::min<int64_t>(kOut, g.H - h0), wn = std::min<int64_t>(kOut, g.W - w0);
  for (int64_t kk = 0; kk < kn; kk += kLanes) {
    Lanes mt[kPoints], out[kOut * kOut];
    for (int p = 0; p < kPoints; ++p) mt[p] = load(m + p * pstride + kk);
    winograd::output_tile(mt, out);
    const int64_t k = k0 + kk;
    const int lanes = static_cast<int>(std::min<int64_t>(kLanes, kn - kk));
    if (lanes == kLanes && hn == kOut && wn == kOut) {
      store_tile(out, y + (k * g.H + h0) * g.W + w0, g.hw(), g.W);
      continue;
    }
    for (int l = 0; l < lanes; ++l) {
      float* plane = y + ((k + l) * g.H + h0) * g.W + w0;
      for (int64_t i = 0; i < hn; ++i)
        for (int64_t j = 0; j < wn; ++j) plane[i * g.W + j] = out[i * kOut + j][l];
    }
  }
}

// M[i][k] (+)= sum over c of V[i][c] U[c][k], for MR rows of V (V[i][c] at v + i vrow + c vred)
// and NV vectors of 16 columns (U's rows ldu apart, M's ldm), summed in c's order: the same bits
// on any number of threads. Accumulating adds the new sum to M's (not M to each term), so that
// a long sum taken in runs rounds like runs, not like one sequence. The forward multiplies
// transformed tiles (rows) by U; the weight gradient transformed output gradients (rows: output
// channels, c: tiles) by V.
template <int MR, int NV>
void product_tile(const float* v, int64_t vrow, int64_t vred, const float* u, int64_t ldu,
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
constexpr auto kProducts = product_table(std::make_integer_sequence<int, kTileRows>());

// Samples a block of the block schedules: equal blocks of at most `fit`, an even number where
// it can be, so that two threads transform equal shares (not from the thread count: the weight
// gradient's sums run by block, and its bits must not depend on the threads).
int64_t samples_per_block(int64_t n, int64_t fit) {
  if (fit >= 2) fit -= fit % 2;
  const int64_t blocks = (n + fit - 1) / fit, per = (n + blocks - 1) / blocks;
  return per >= 2 && per < fit ? per + per % 2 : per;
}

// For rows [R, R + rn) of the N x tiles grid (V's row i at v + i cp, point p at + p vpoint):
// M = V U for the panel of output channels at k0 into m (point-major, rn x kPanel a point), then
// the output tiles from M while it is in L2.
void multiply_and_output(const float* v, int64_t vpoint, int64_t R, int64_t rn, const float* u,
                         int64_t k0, const ConvGeom& g, const Grid& gr, float* m, float* y) {
  const int nv = static_cast<int>(std::min<int64_t>(kTileVecs, (gr.kp - k0) / kLanes));
  const int64_t mpoint = rn * kPanel + kSkew;
  for (int p = 0; p < kPoints; ++p)
    for (int64_t i = 0; i < rn; i += kTileRows) {
      const int mr = static_cast<int>(std::min<int64_t>(kTileRows, rn - i));
      kProducts[mr - 1][nv - 1](v + p * vpoint + i * gr.cp, gr.cp, 1, u + u_offset(g, gr, p, 0, k0),
                                nv * kLanes, g.C, m + p * mpoint + i * kPanel, kPanel, false);
    }
  const int64_t kn = std::min(kPanel, g.K - k0);
  for (int64_t i = 0; i < rn; ++i) {
    const int64_t r = R + i;
    transform_output(m + i * kPanel, mpoint, g, gr, r % gr.tiles, k0, kn,
                     y + r / gr.tiles * g.K * g.hw());
  }
}

// Fewer than 256 input channels: each group of samples (one sample from 24 tiles up, else as
// many as make 24 tiles) is one thread's from the layout to the output, in jobs of at most
// kJobRows tiles whose V (36 x 24 x C floats) and M stay in the core's L2; each job reads all of
// U (590 KB with 64 channels each side) from L2 or L3.
void forward_by_thread(const float* x, const float* u, float* y, const ConvGeom& g,
                       const Grid& gr) {
  const int64_t per_group = std::max<int64_t>(1, kJobRows / gr.tiles);
  parallel_for(0, (g.N + per_group - 1) / per_group, 1, [&](int64_t lo, int64_t hi) {
    float* xt = static_cast<float*>(
        workspace(0, static_cast<size_t>(gr.hp * gr.wp * gr.cp) * sizeof(float)));
    float* v = static_cast<float*>(
        workspace(1, static_cast<size_t>(kPoints * (kJobRows * gr.cp + kSkew)) * sizeof(float)));
    float* m = static_cast<float*>(
        workspace(2, static_cast<size_t>(kPoints * (kJobRows * kPanel + kSkew)) * sizeof(float)));
    for (int64_t group = lo; group < hi; ++group) {
      const int64_t first = group * per_group * gr.tiles;
      const int64_t end = std::min(g.N, (group + 1) * per_group) * gr.tiles;
      const int64_t jobs = (end - first + kJobRows - 1) / kJobRows;
      const int64_t step = (end - first + jobs - 1) / jobs;  // even jobs: 22, 22, 20 of 64
      int64_t laid = -1;                                     // the sample in xt
      for (int64_t R = first; R < end; R += step) {
        const int64_t rn = std::min(step, end - R);
        for (int64_t i = 0; i < rn; ++i) {
          const int64_t n = (R + i) / gr.tiles;
          if (n != laid) lay_out_sample(x + n * g.C * g.hw(), g.C, gr.cp, g, gr, xt);
          laid = n;
          transform_input(xt, gr, (R + i) % gr.tiles, rn * gr.cp + kSkew, v + i * gr.cp);
        }
        for (int64_t k0 = 0; k0 < gr.kp; k0 += kPanel)
          multiply_and_output(v, rn * gr.cp + kSkew, R, rn, u, k0, g, gr, m, y);
      }
    }
  });
}

// 256 input channels or more: U is 9-38 MB, so it is read once for many tiles. Blocks of
// samples (V at most kBlockFloats) are transformed by both threads; then jobs of kWideJobRows
// tiles x one panel, panel-major (a thread's consecutive jobs share their panel of U).
void forward_by_block(const float* x, const float* u, float* y, const ConvGeom& g, const Grid& gr) {
  const int64_t fit = std::max<int64_t>(1, kBlockFloats / (kPoints * gr.cp * gr.tiles));
  const int64_t per_block = samples_per_block(g.N, fit);
  float* v = static_cast<float*>(workspace(
      1, static_cast<size_t>(kPoints * (per_block * gr.tiles * gr.cp + kSkew)) * sizeof(float)));
  const int64_t S = std::min(kWideJobRows, per_block * gr.tiles);
  const int64_t panels = (gr.kp + kPanel - 1) / kPanel;
  for (int64_t n0 = 0; n0 < g.N; n0 += per_block) {
    const int64_t count = std::min(per_block, g.N - n0), rows = count * gr.tiles;
    parallel_for(0, count, 1, [&](int64_t lo, int64_t hi) {
      float* xt = static_cast<float*>(
          workspace(0, static_cast<size_t>(gr.hp * gr.wp * gr.cp) * sizeof(float)));
      for (int64_t j = lo; j < hi; ++j) {
        lay_out_sample(x + (n0 + j) * g.C * g.hw(), g.C, gr.cp, g, gr, xt);
        for (int64_t t = 0; t < gr.tiles; ++t)
          transform_input(xt, gr, t, rows * gr.cp + kSkew, v + (j * gr.tiles + t) * gr.cp);
      }
    });
    const int64_t subs = (rows + S - 1) / S;
    parallel_for(0, subs * panels, 1, [&](int64_t lo, int64_t hi) {
      float* m = static_cast<float*>(
          workspace(2, static_cast<size_t>(kPoints * (S * kPanel + kSkew)) * sizeof(float)));
      for (int64_t job = lo; job < hi; ++job) {
        const int64_t r0 = job % subs * S, rn = std::min(S, rows - r0);
        multiply_and_output(v + r0 * gr.cp, rows * gr.cp + kSkew, n0 * gr.tiles + r0, rn, u,
                            job / subs * kPanel, g, gr, m, y);
      }
    });
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
  if (g.C < kWideChannels)
    forward_by_thread(x, u, y, g, gr);
  else
    forward_by_block(x, u, y, g, gr);
}

void winograd_conv_weight_grad(const float* x, const float* dy, float* dw, const ConvGeom& g) {
  if (g.N == 0) {
    std::fill(dw, dw + g.K * g.C * 9, 0.0f);
    return;
  }
  const Grid gr(g);
  // dU[p][k][c] (kp x cp a point), summed over the blocks of samples in order. Blocks hold at
  // least as many floats as dU, which is read and written once a block.
  const int64_t dpoint = gr.kp * gr.cp + kSkew, du_floats = kPoints * dpoint;
  float* du = static_cast<float*>(workspace(3, static_cast<size_t>(du_floats) * sizeof(float)));
  const int64_t fit = std::max<int64_t>(
      1, std::max(kBlockFloats, du_floats) / (kPoints * (gr.cp + gr.kp) * gr.tiles));
  const int64_t per_block = samples_per_block(g.N, fit);
  const int64_t block_rows = per_block * gr.tiles;
  float* v = static_cast<float*>(
      workspace(1, static_cast<size_t>(kPoints * (block_rows * gr.cp + kSkew)) * sizeof(float)));
  float* yh = static_cast<float*>(
      workspace(2, static_cast<size_t>(kPoints * (block_rows * gr.kp + kSkew)) * sizeof(float)));
  const int64_t cpanels = (gr.cp + kPanel - 1) / kPanel;
  for (int64_t n0 = 0; n0 < g.N; n0 += per_block) {
    const int64_t count = std::min(per_block, g.N - n0), rows = count * gr.tiles;
    const int64_t vpoint = rows * gr.cp + kSkew, ypoint = rows * gr.kp + kSkew;
    parallel_for(0, count, 1, [&](int64_t lo, int64_t hi) {
      float* t = static_cast<float*>(workspace(
          0, static_cast<size_t>(gr.hp * gr.wp * std::max(gr.cp, gr.kp)) * sizeof(float)));
      for (int64_t j = lo; j < hi; ++j) {
        const int64_t n = n0 + j;
        lay_out_sample(x + n * g.C * g.hw(), g.C, gr.cp, g, gr, t);
        for (int64_t i = 0; i < gr.tiles; ++i)
          transform_input(t, gr, i, vpoint, v + (j * gr.tiles + i) * gr.cp);
        lay_out_sample(dy + n * g.K * g.hw(), g.K, gr.kp, g, gr, t);
        for (int64_t i = 0; i < gr.tiles; ++i)
          transform_output_grad(t, gr, i, ypoint, yh + (j * gr.tiles + i) * gr.kp);
      }
    });
    // dU[p] (+)= Yh[p]^T V[p], a job a point and panel of 64 input channels (point-major: a
    // thread's consecutive jobs share Yh[p]); each sums over the block's tiles in order.
    parallel_for(0, kPoints * cpanels, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t job = lo; job < hi; ++job) {
        const int64_t p = job / cpanels, c0 = job % cpanels * kPanel;
        const int nv = static_cast<int>(std::min<int64_t>(kTileVecs, (gr.cp - c0) / kLanes));
        for (int64_t k0 = 0; k0 < g.K; k0 += kTileRows) {
          const int mr = static_cast<int>(std::min<int64_t>(kTileRows, g.K - k0));
          for (int64_t r0 = 0; r0 < rows; r0 += kSumRun)
            kProducts[mr - 1][nv - 1](yh + p * ypoint + r0 * gr.kp + k0, 1, gr.kp,
                                      v + p * vpoint + r0 * gr.cp + c0, gr.cp,
                                      std::min(kSumRun, rows - r0),
                                      du + p * dpoint + k0 * gr.cp + c0, gr.cp, n0 > 0 || r0 > 0);
        }
      }
    });
  }
  // dW[k][c] = G^T dU[.][k][c] G, 16 input channels at a time.
  parallel_for(0, g.K, 4, [&](int64_t lo, int64_t hi) {
    for (int64_t k = lo; k < hi; ++k)
      for (int64_t c0 = 0; c0 < g.C; c0 += kLanes) {
        Lanes d[kPoints], out[9];
        for (int p = 0; p < kPoints; ++p) d[p] = load(du + p * dpoint + k * gr.cp + c0);
        winograd::weight_grad_tile(d, out);
        const int lanes = static_cast<int>(std::min<int64_t>(kLanes, g.C - c0));
        for (int l = 0; l < lanes; ++l)
          for (int tap = 0; tap < 9; ++tap) dw[(k * g.C + c0 + l) * 9 + tap] = out[tap][l];
      }
  });
}

}  // namespace sire::cpu
