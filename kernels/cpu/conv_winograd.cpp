#include "kernels/cpu/conv_winograd.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "kernels/cpu/avx512_intrinsics.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/streaming.h"
#include "kernels/cpu/winograd_parts.h"

namespace sire::cpu {
namespace {

using namespace winograd_parts;

// Two schedules (winograd_conv_forward): by thread below kWideChannels input channels, jobs of
// kJobRows tiles; by block from there, blocks of V at most kBlockFloats (6 MiB, transformed by
// both threads and read from the shared L3) and jobs of kWideJobRows tiles x one panel, whose
// M (36 x 64 x 64 floats, 576 KiB) stays in L2 from the products to the output transform.
constexpr int64_t kWideChannels = 256;
constexpr int64_t kJobRows = 4 * kTileRows;
constexpr int64_t kWideJobRows = 64;
constexpr int64_t kMinChannels = 16;   // where it fits
constexpr int64_t kAutoChannels = 64;  // where it is used by default
// Transformed weights of at least this many bytes are written past the caches too (as outputs
// from kStreamBytes, streaming.h; transform_weights).
constexpr int64_t kStreamWeightBytes = int64_t{8} << 20;

std::atomic<int> g_use{-1};  // a WinogradUse; -1: not read from the environment yet

// Where U[p][c][k] is: each point's C x kp matrix stored as panels of kPanel columns (the last
// one narrower), each panel's rows contiguous, so the products stream through one panel.
inline int64_t u_offset(const ConvGeom& g, const Grid& gr, int64_t p, int64_t c, int64_t k) {
  const int64_t k0 = k / kPanel * kPanel, width = std::min(kPanel, gr.kp - k0);
  return (p * gr.kp + k0) * g.C + c * width + (k - k0);
}

// U (the columns from K on zero, so that M's are too), a vector of 16 output channels at a
// time. flip: the kernel of the flipped convolution, read in place. Blocks of output channels
// outermost, so that consecutive items gather from the same lines of w; U of 8 MiB and more (from
// 256 channels each side) is written past the caches, as it is read back from memory anyway:
// at 512 -> 512@4 the transform was 41% of the forward, half of it in its stores.
void transform_weights(const float* w, const ConvGeom& g, const Grid& gr, bool flip, float* u) {
  const int64_t kblocks = gr.kp / kLanes;
  const bool stream = kPoints * g.C * gr.kp * int64_t{sizeof(float)} >= kStreamWeightBytes &&
                      (reinterpret_cast<uintptr_t>(u) & 63) == 0;
  // Lane l's weight is (k0 + l) rows of w after the first: C x 9 floats apart, or 9 flipped.
  const int64_t lane_stride = flip ? 9 : g.C * 9;
  const bool gather = lane_stride * (kLanes - 1) < (int64_t{1} << 31);
  parallel_for(0, kblocks * g.C, 16, [&](int64_t lo, int64_t hi) {
    for (int64_t item = lo; item < hi; ++item) {
      const int64_t k0 = item / g.C * kLanes, c = item % g.C;
      const int kn = static_cast<int>(std::min<int64_t>(kLanes, g.K - k0));
      // Tap `tap` of lane l at first + l lane_stride + tap (flipped: - tap).
      const float* first = flip ? w + (c * g.K + k0) * 9 + 8 : w + (k0 * g.C + c) * 9;
      const int64_t step = flip ? -1 : 1;
      Lanes taps[9], t[kPoints];
#if defined(__AVX512F__)
      if (gather) {
        const __m512i lanes = _mm512_mullo_epi32(
            _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
            _mm512_set1_epi32(static_cast<int>(lane_stride)));
        const auto mask = static_cast<__mmask16>((1u << kn) - 1u);
        // The lines 8 items on (16 streams, too many for the hardware's prefetcher to follow).
        if (c + 8 < g.C)
          for (int l = 0; l < kn; ++l)
            _mm_prefetch(reinterpret_cast<const char*>(first + (flip ? 8 * g.K * 9 : 8 * 9) +
                                                       l * lane_stride),
                         _MM_HINT_T0);
        for (int tap = 0; tap < 9; ++tap)
          taps[tap] = (Lanes)_mm512_mask_i32gather_ps(_mm512_setzero_ps(), mask, lanes,
                                                      first + tap * step, 4);
      } else
#endif
      {
        for (int tap = 0; tap < 9; ++tap)
          for (int l = 0; l < kLanes; ++l)
            taps[tap][l] = l < kn ? first[l * lane_stride + tap * step] : 0.0f;
      }
      winograd::weight_tile(taps, t);
      for (int p = 0; p < kPoints; ++p) {
        float* at = u + u_offset(g, gr, p, c, k0);
#if defined(__AVX512F__)
        if (stream) {
          _mm512_stream_ps(at, (__m512)t[p]);
          continue;
        }
#endif
        store(at, t[p]);
      }
    }
#if defined(__AVX512F__)
    if (stream) _mm_sfence();
#endif
  });
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

// Four tiles side by side (a row of 16 output pixels, t's column a multiple of 4) of one
// sample's y, 16 output channels at a time: each channel's four rows of 16 are whole cache lines,
// written with one store each (streaming past the caches where aligned: y is written once here
// and read by the next layer much later, and partial lines would first be read from memory).
// The tiles' products at m + q kPanel (q = 0..3), point p at + p pstride.
void transform_output_4(const float* m, int64_t pstride, const ConvGeom& g, const Grid& gr,
                        int64_t t, int64_t k0, int64_t kn, bool stream, float* y) {
#if defined(__AVX512F__)
  const int64_t h0 = kOut * (t / gr.tw), w0 = kOut * (t % gr.tw);
  for (int64_t kk = 0; kk < kn; kk += kLanes) {
    Lanes out[4][kOut * kOut];
    for (int q = 0; q < 4; ++q) {
      Lanes mt[kPoints];
      for (int p = 0; p < kPoints; ++p) mt[p] = load(m + q * kPanel + p * pstride + kk);
      winograd::output_tile(mt, out[q]);
    }
    float* base = y + ((k0 + kk) * g.H + h0) * g.W + w0;
    for (int i = 0; i < kOut; ++i) {
      __m512 r[16];  // pixel 4 q + j of row i, 16 channels; transposed: channel c's 16 pixels
      for (int q = 0; q < 4; ++q)
        for (int j = 0; j < kOut; ++j) r[q * kOut + j] = (__m512)out[q][i * kOut + j];
      transpose16(r);
      float* row = base + i * g.W;
      if (stream && (reinterpret_cast<uintptr_t>(row) & 63) == 0 && g.hw() % 16 == 0)
        for (int c = 0; c < 16; ++c) _mm512_stream_ps(row + c * g.hw(), r[c]);
      else
        for (int c = 0; c < 16; ++c) _mm512_storeu_ps(row + c * g.hw(), r[c]);
    }
  }
#else
  (void)stream;
  for (int q = 0; q < 4; ++q) transform_output(m + q * kPanel, pstride, g, gr, t + q, k0, kn, y);
#endif
}

// Whether tiles t..t+3 of a sample can go through transform_output_4: whole tiles side by side
// in one tile row, starting at a multiple of 16 pixels, and whole vectors of channels.
bool fits_output_4(const ConvGeom& g, const Grid& gr, int64_t t, int64_t kn) {
  const int64_t tx = t % gr.tw, ty = t / gr.tw;
  return tx % 4 == 0 && kOut * (tx + 4) <= g.W && kOut * (ty + 1) <= g.H && kn % kLanes == 0;
}

// For rows [R, R + rn) of the N x tiles grid (V's row i at v + i cp, point p at + p vpoint):
// M = V U for the panel of output channels at k0 into m (point-major, rn x kPanel a point), then
// the output tiles from M while it is in L2.
void multiply_and_output(const float* v, int64_t vpoint, int64_t R, int64_t rn, const float* u,
                         int64_t k0, const ConvGeom& g, const Grid& gr, bool stream, float* m,
                         float* y) {
  const int nv = static_cast<int>(std::min<int64_t>(kTileVecs, (gr.kp - k0) / kLanes));
  const int64_t mpoint = rn * kPanel + kSkew;
  for (int p = 0; p < kPoints; ++p)
    for (int64_t i = 0; i < rn; i += kTileRows) {
      const int mr = static_cast<int>(std::min<int64_t>(kTileRows, rn - i));
      kProducts[mr - 1][nv - 1](v + p * vpoint + i * gr.cp, gr.cp, 1, u + u_offset(g, gr, p, 0, k0),
                                nv * kLanes, g.C, m + p * mpoint + i * kPanel, kPanel, false);
    }
  const int64_t kn = std::min(kPanel, g.K - k0);
  for (int64_t i = 0; i < rn;) {
    const int64_t r = R + i, t = r % gr.tiles;
    float* yn = y + r / gr.tiles * g.K * g.hw();
    if (i + 4 <= rn && fits_output_4(g, gr, t, kn)) {
      transform_output_4(m + i * kPanel, mpoint, g, gr, t, k0, kn, stream, yn);
      i += 4;
    } else {
      transform_output(m + i * kPanel, mpoint, g, gr, t, k0, kn, yn);
      ++i;
    }
  }
#if defined(__AVX512F__)
  if (stream) _mm_sfence();  // the streamed lines visible before the pass is over
#endif
}

// Fewer than 256 input channels: each group of samples (one sample from 24 tiles up, else as
// many as make 24 tiles) is one thread's from the layout to the output, in jobs of at most
// kJobRows tiles whose V (36 x 24 x C floats) and M stay in the core's L2; each job reads all of
// U (590 KB with 64 channels each side) from L2 or L3.
void forward_by_thread(const float* x, const float* u, float* y, const ConvGeom& g, const Grid& gr,
                       bool stream) {
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
      // Even jobs, in whole groups of 4 tiles (transform_output_4): 24, 24, 16 of 64.
      const int64_t step = std::min(kJobRows, round_up((end - first + jobs - 1) / jobs, 4));
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
          multiply_and_output(v, rn * gr.cp + kSkew, R, rn, u, k0, g, gr, stream, m, y);
      }
    }
  });
}

// 256 input channels or more: U is 9-38 MB, so it is read once for many tiles. Blocks of
// samples (V at most kBlockFloats) are transformed by both threads; then jobs of kWideJobRows
// tiles x one panel, panel-major (a thread's consecutive jobs share their panel of U).
void forward_by_block(const float* x, const float* u, float* y, const ConvGeom& g, const Grid& gr,
                      bool stream) {
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
      for (int64_t j = lo; j < hi; ++j)
        transform_sample(x + (n0 + j) * g.C * g.hw(), g.C, g, gr, xt, rows * gr.cp + kSkew,
                         v + j * gr.tiles * gr.cp);
    });
    const int64_t subs = (rows + S - 1) / S;
    parallel_for(0, subs * panels, 1, [&](int64_t lo, int64_t hi) {
      float* m = static_cast<float*>(
          workspace(2, static_cast<size_t>(kPoints * (S * kPanel + kSkew)) * sizeof(float)));
      for (int64_t job = lo; job < hi; ++job) {
        const int64_t r0 = job % subs * S, rn = std::min(S, rows - r0);
        multiply_and_output(v + r0 * gr.cp, rows * gr.cp + kSkew, n0 * gr.tiles + r0, rn, u,
                            job / subs * kPanel, g, gr, stream, m, y);
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

// winograd::fits_geometry (3x3 "same", stride 1, a plane the tiles cover well), 16 or more
// channels each side.
bool winograd_conv_fits(const ConvGeom& g) {
  return winograd::fits_geometry(g) && g.C >= kMinChannels && g.K >= kMinChannels;
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
  const bool stream = g.N * g.K * g.hw() * int64_t{sizeof(float)} >= kStreamBytes;
  if (g.C < kWideChannels)
    forward_by_thread(x, u, y, g, gr, stream);
  else
    forward_by_block(x, u, y, g, gr, stream);
}

}  // namespace sire::cpu
