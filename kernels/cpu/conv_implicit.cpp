#include "kernels/cpu/conv_implicit.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "engine/error.h"
#include "kernels/cpu/conv_tile.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/parallel.h"

namespace sire::cpu {

bool implicit_conv_applies(const ConvGeom& g) {
#if defined(__AVX512F__)
  // Gather indices are 32-bit; enough output channels to reuse each gathered panel.
  return g.N * g.C * g.H * g.W < std::numeric_limits<int32_t>::max() && g.K >= 16;
#else
  return false;
#endif
}

bool implicit_weight_grad_applies(const ConvGeom& g) {
#if defined(__AVX512F__)
  // The gathered panel (every position x 32 taps) should stay within L2.
  return implicit_conv_applies(g) && g.N * g.pq() * 32 * 4 <= (int64_t{2} << 20);
#else
  return false;
#endif
}

#if defined(__AVX512F__)

namespace {

// Maximal runs of lanes whose values are consecutive (base[l + 1] == base[l] + 1), at most
// kMaxRuns of them: lanes[i] the run's lane mask, start[i] = base[first lane] - first lane, so
// that lane l of the run reads start + l.
constexpr int kMaxRuns = 4;
struct Runs {
  int count = 0;
  __mmask16 lanes[kMaxRuns];
  int64_t start[kMaxRuns];
};

bool find_runs(const int32_t* base, Runs* runs) {
  runs->count = 0;
  for (int l = 0; l < 16;) {
    int e = l + 1;
    while (e < 16 && base[e] == base[e - 1] + 1) ++e;
    if (runs->count == kMaxRuns) return false;
    runs->lanes[runs->count] = static_cast<__mmask16>(((1u << e) - 1u) & ~((1u << l) - 1u));
    runs->start[runs->count] = int64_t{base[l]} - l;
    ++runs->count;
    l = e;
  }
  return true;
}

// x + offset as an address for a masked load: the offset may point before x, at lanes the mask
// excludes (never read), so the arithmetic is done on the integer address.
inline const float* at(const float* x, int64_t offset) {
  return reinterpret_cast<const float*>(reinterpret_cast<std::uintptr_t>(x) +
                                        static_cast<std::uintptr_t>(offset * 4));
}

}  // namespace

void implicit_conv_forward(const float* x, const float* w, float* y, const ConvGeom& g, bool flip) {
  const int64_t crs = g.crs(), pq = g.pq(), columns = g.N * pq;
  const int64_t panels = (columns + kNr - 1) / kNr, kblocks = (g.K + kMr - 1) / kMr;
  const float* wp = pack_weights(w, g, flip);
  const int64_t offset0[1] = {0};
  const bool unit_stride = g.stride_h == 1 && g.stride_w == 1;
  parallel_for(0, panels, 1, [&](int64_t lo, int64_t hi) {
    float* b = static_cast<float*>(workspace(0, static_cast<size_t>(crs * kNr) * sizeof(float)));
    alignas(64) float tile[kMr * kNr];
    alignas(64) int32_t base[kNr], top[kNr], left[kNr];
    for (int64_t panel = lo; panel < hi; ++panel) {
      const int64_t n0 = panel * kNr, count = std::min<int64_t>(kNr, columns - n0);
      // Where each column's receptive field starts; columns past the end read nothing.
      for (int64_t t = 0; t < kNr; ++t) {
        const int64_t n = std::min(n0 + t, columns - 1), j = n / pq, p = (n % pq) / g.Q, q = n % g.Q;
        top[t] = static_cast<int32_t>(p * g.stride_h - g.pad_h);
        left[t] = static_cast<int32_t>(q * g.stride_w - g.pad_w);
        base[t] = static_cast<int32_t>(j * g.C * g.H * g.W + top[t] * g.W + left[t]);
        if (t >= count) top[t] = -(1 << 30);  // never inside the image: gathers zeros
      }
      // With stride 1, lanes whose receptive fields start at consecutive addresses (a row of
      // outputs; whole planes when the convolution keeps the size) read one contiguous run:
      // a few masked loads per 16 lanes replace a gather (5-20% of these kernels' time).
      Runs runs[2];
      bool use_runs = unit_stride;
      for (int h = 0; h < 2 && use_runs; ++h) use_runs = find_runs(base + 16 * h, &runs[h]);
      const __m512i base_v[2] = {_mm512_load_si512(base), _mm512_load_si512(base + 16)};
      const __m512i top_v[2] = {_mm512_load_si512(top), _mm512_load_si512(top + 16)};
      const __m512i left_v[2] = {_mm512_load_si512(left), _mm512_load_si512(left + 16)};
      const __m512i height = _mm512_set1_epi32(static_cast<int32_t>(g.H));
      const __m512i width = _mm512_set1_epi32(static_cast<int32_t>(g.W));
      // B[(c R + r) S + s][t] = x at (top + r, left + s) of channel c, or 0 in the padding.
      for (int64_t r = 0; r < g.R; ++r)
        for (int64_t s = 0; s < g.S; ++s) {
          __mmask16 inside[2];
          for (int h = 0; h < 2; ++h) {
            const __m512i row = _mm512_add_epi32(top_v[h], _mm512_set1_epi32(static_cast<int32_t>(r)));
            const __m512i col = _mm512_add_epi32(left_v[h], _mm512_set1_epi32(static_cast<int32_t>(s)));
            // 0 <= row < H and 0 <= col < W, as unsigned comparisons
            inside[h] = _mm512_cmplt_epu32_mask(row, height) & _mm512_cmplt_epu32_mask(col, width);
          }
          const int32_t tap = static_cast<int32_t>(r * g.W + s);
          if (use_runs) {
            // Per run: its lanes that are inside, and the offset its lane 0 would read.
            __mmask16 run_mask[2][kMaxRuns];
            for (int h = 0; h < 2; ++h)
              for (int i = 0; i < runs[h].count; ++i)
                run_mask[h][i] = static_cast<__mmask16>(runs[h].lanes[i] & inside[h]);
            for (int64_t c = 0; c < g.C; ++c) {
              const int64_t shift = tap + c * g.H * g.W;
              float* dst = b + ((c * g.R + r) * g.S + s) * kNr;
              for (int h = 0; h < 2; ++h) {
                __m512 v = _mm512_setzero_ps();
                for (int i = 0; i < runs[h].count; ++i)
                  v = _mm512_mask_loadu_ps(v, run_mask[h][i], at(x, runs[h].start[i] + shift));
                _mm512_store_ps(dst + 16 * h, v);
              }
            }
            continue;
          }
          for (int64_t c = 0; c < g.C; ++c) {
            const int32_t shift = tap + static_cast<int32_t>(c * g.H * g.W);
            float* dst = b + ((c * g.R + r) * g.S + s) * kNr;
            for (int h = 0; h < 2; ++h) {
              const __m512i idx = _mm512_add_epi32(base_v[h], _mm512_set1_epi32(shift));
              _mm512_store_ps(dst + 16 * h, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), inside[h],
                                                                     idx, x, 4));
            }
          }
        }
      for (int64_t kb = 0; kb < kblocks; ++kb) {
        forward_tile(b, crs, kNr, offset0, 1, wp + kb * crs * kMr, tile_buffer(tile, kNr));
        // Columns of one sample are contiguous in y: at most a few segments per tile.
        const int64_t rows = std::min<int64_t>(kMr, g.K - kb * kMr);
        for (int64_t t = 0; t < count;) {
          const int64_t n = n0 + t, j = n / pq, at = n % pq;
          const int64_t len = std::min(count - t, pq - at);
          for (int64_t i = 0; i < rows; ++i)
            copy_floats(y + (j * g.K + kb * kMr + i) * pq + at, tile + i * kNr + t, len);
          t += len;
        }
      }
    }
  });
}

void implicit_conv_weight_grad(const float* x, const float* dy, float* dw, const ConvGeom& g) {
  const int64_t crs = g.crs(), pq = g.pq(), positions = g.N * pq;
  const int64_t panels = (crs + kNr - 1) / kNr, kblocks = (g.K + kMr - 1) / kMr;
  // dY as [k-block][position][8] (zeros past K): the tile's broadcast operand.
  float* a = static_cast<float*>(workspace(3, static_cast<size_t>(kblocks * positions * kMr) * sizeof(float)));
  parallel_for(0, kblocks * g.N, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t item = lo; item < hi; ++item) {
      const int64_t kb = item / g.N, j = item % g.N;
      float* dst = a + (kb * positions + j * pq) * kMr;
      for (int i = 0; i < kMr; ++i) {
        const int64_t k = kb * kMr + i;
        const float* src = dy + (j * g.K + k) * pq;
        for (int64_t t = 0; t < pq; ++t) dst[t * kMr + i] = k < g.K ? src[t] : 0.0f;
      }
    }
  });
  // Per tap of a panel: the offset of (c, r, s) from a position's receptive-field corner.
  parallel_for(0, panels, 1, [&](int64_t lo, int64_t hi) {
    float* b = static_cast<float*>(workspace(0, static_cast<size_t>(positions * kNr) * sizeof(float)));
    alignas(64) float tile[kMr * kNr];
    alignas(64) int32_t shift[kNr], tap_r[kNr], tap_s[kNr];
    for (int64_t panel = lo; panel < hi; ++panel) {
      const int64_t t0 = panel * kNr, count = std::min<int64_t>(kNr, crs - t0);
      for (int64_t t = 0; t < kNr; ++t) {
        const int64_t tap = std::min(t0 + t, crs - 1), c = tap / (g.R * g.S);
        tap_r[t] = static_cast<int32_t>((tap / g.S) % g.R);
        tap_s[t] = static_cast<int32_t>(tap % g.S);
        shift[t] = static_cast<int32_t>(c * g.H * g.W + tap_r[t] * g.W + tap_s[t]);
      }
      const __m512i shift_v[2] = {_mm512_load_si512(shift), _mm512_load_si512(shift + 16)};
      const __m512i r_v[2] = {_mm512_load_si512(tap_r), _mm512_load_si512(tap_r + 16)};
      const __m512i s_v[2] = {_mm512_load_si512(tap_s), _mm512_load_si512(tap_s + 16)};
      const __m512i height = _mm512_set1_epi32(static_cast<int32_t>(g.H));
      const __m512i width = _mm512_set1_epi32(static_cast<int32_t>(g.W));
      const __mmask16 real[2] = {static_cast<__mmask16>(count >= 16 ? 0xFFFF : (1u << count) - 1u),
                                 static_cast<__mmask16>(count <= 16 ? 0 : (1u << (count - 16)) - 1u)};
      // B[position][t] = x at the position's corner + (r, s) of tap t, channel c; 0 in padding.
      const int64_t c_first = t0 / (g.R * g.S), c_end = (t0 + count - 1) / (g.R * g.S) + 1;
      for (int64_t j = 0; j < g.N; ++j) {
        // The next sample's planes of this panel's channels, fetched ahead of the gathers that
        // would otherwise wait on them (8x8 weight gradients single-threaded 96-97 -> 100-102
        // GFLOP/s; a gather's lanes follow no pattern the hardware prefetcher sees).
        if (j + 1 < g.N)
          for (int64_t c = c_first; c < c_end; ++c) {
            const char* plane = reinterpret_cast<const char*>(x + ((j + 1) * g.C + c) * g.H * g.W);
            for (int64_t b = 0; b < g.H * g.W * 4; b += 64) _mm_prefetch(plane + b, _MM_HINT_T0);
          }
        for (int64_t p = 0; p < g.P; ++p)
          for (int64_t q = 0; q < g.Q; ++q) {
            const int32_t top = static_cast<int32_t>(p * g.stride_h - g.pad_h);
            const int32_t left = static_cast<int32_t>(q * g.stride_w - g.pad_w);
            const int32_t corner = static_cast<int32_t>(j * g.C * g.H * g.W) + top * static_cast<int32_t>(g.W) + left;
            float* dst = b + ((j * g.P + p) * g.Q + q) * kNr;
            for (int h = 0; h < 2; ++h) {
              const __m512i row = _mm512_add_epi32(r_v[h], _mm512_set1_epi32(top));
              const __m512i col = _mm512_add_epi32(s_v[h], _mm512_set1_epi32(left));
              const __mmask16 inside = real[h] & _mm512_cmplt_epu32_mask(row, height) &
                                       _mm512_cmplt_epu32_mask(col, width);
              const __m512i idx = _mm512_add_epi32(shift_v[h], _mm512_set1_epi32(corner));
              _mm512_store_ps(dst + 16 * h, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), inside, idx, x, 4));
            }
          }
      }
      const int64_t offset0[1] = {0};
      for (int64_t kb = 0; kb < kblocks; ++kb) {
        forward_tile(b, positions, kNr, offset0, 1, a + kb * positions * kMr,
                     tile_buffer(tile, kNr));
        const int64_t rows = std::min<int64_t>(kMr, g.K - kb * kMr);
        for (int64_t i = 0; i < rows; ++i)
          std::memcpy(dw + (kb * kMr + i) * crs + t0, tile + i * kNr, static_cast<size_t>(count) * sizeof(float));
      }
    }
  });
}

#else

void implicit_conv_weight_grad(const float*, const float*, float*, const ConvGeom&) {
  SIRE_FAIL("implicit-GEMM convolution needs AVX-512 (build with SIRE_NATIVE on such a CPU)");
}

void implicit_conv_forward(const float*, const float*, float*, const ConvGeom&, bool) {
  SIRE_FAIL("implicit-GEMM convolution needs AVX-512 (build with SIRE_NATIVE on such a CPU)");
}

#endif

}  // namespace sire::cpu
