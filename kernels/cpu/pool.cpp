// Max pooling, nearest upsampling and adaptive average pooling on the CPU: one (n, c) plane per
// task, so every output element is written by one thread.
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "kernels/cpu/avx512_intrinsics.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/streaming.h"

namespace sire::cpu {
namespace {

// Runs f(plane) for each of the N*C planes, in parallel.
template <class F>
void each_plane(int64_t planes, int64_t plane_elems, const F& f) {
  const int64_t grain = std::max<int64_t>(1, 4096 / std::max<int64_t>(plane_elems, 1));
  parallel_for(0, planes, grain, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) f(i);
  });
}

// One row of y = upsample(x) + add at twice the width, written with streaming stores: 16
// outputs from 8 inputs, each twice, plus 16 of `add` (the same additions as the plain loop);
// false where it does not apply (not float, no AVX-512, a row not whole aligned vectors).
template <class T>
bool upsample2x_add_row_streamed(const T* row, const T* a, T* o, int64_t OW) {
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float>) {
    if (OW % 16 != 0 || (reinterpret_cast<uintptr_t>(o) & 63) != 0) return false;
    const __m512i twice = _mm512_set_epi32(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0);
    for (int64_t j = 0; j < OW; j += 16) {
      const __m512 v = _mm512_zextps256_ps512(_mm256_loadu_ps(row + j / 2));
      _mm512_stream_ps(o + j,
                       _mm512_add_ps(_mm512_permutexvar_ps(twice, v), _mm512_loadu_ps(a + j)));
    }
    return true;
  }
#endif
  (void)row, (void)a, (void)o, (void)OW;
  return false;
}

}  // namespace

#if defined(__AVX512F__)
// 16 outputs of a 2x2, stride-2 pool from 32 consecutive values of the window's top row (a0,
// a1) and of its bottom row (b0, b1): the even and odd columns are split with permutes, and
// each candidate replaces the running maximum under a mask (larger, or NaN over a number), in
// window order. `first`: the input index of each output's top-left candidate.
inline void pool2x2_16(__m512 a0, __m512 a1, __m512 b0, __m512 b1, __m512i first, int32_t w,
                       float* out, int32_t* idx) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  const __m512 cand[4] = {_mm512_permutex2var_ps(a0, even, a1), _mm512_permutex2var_ps(a0, odd, a1),
                          _mm512_permutex2var_ps(b0, even, b1), _mm512_permutex2var_ps(b0, odd, b1)};
  const __m512i where[4] = {first, _mm512_add_epi32(first, _mm512_set1_epi32(1)),
                            _mm512_add_epi32(first, _mm512_set1_epi32(w)),
                            _mm512_add_epi32(first, _mm512_set1_epi32(w + 1))};
  __m512 m = cand[0];
  __m512i best = where[0];
  for (int k = 1; k < 4; ++k) {
    const __mmask16 take = _mm512_cmp_ps_mask(cand[k], m, _CMP_GT_OQ) |
                           (_mm512_cmp_ps_mask(cand[k], cand[k], _CMP_UNORD_Q) &
                            _mm512_cmp_ps_mask(m, m, _CMP_ORD_Q));
    m = _mm512_mask_blend_ps(take, m, cand[k]);
    best = _mm512_mask_blend_epi32(take, best, where[k]);
  }
  _mm512_storeu_ps(out, m);
  _mm512_storeu_si512(idx, best);
}

// Planes narrower than 32 (W = 2, 4, 8, 16: SIRe-CNN's deeper pools), where a row holds fewer
// than 16 windows: the pool runs along a "virtual row" that chains the windows' top rows (input
// rows 0, 2, 4, ...; the bottom rows likewise), so the plane's P Q outputs come 16 at a time.
// Virtual column v is input row 2 (v / W) (+1 for the bottom row), column v % W.
inline __m512 virtual_row(const float* in, int64_t v, int32_t W, int bottom) {
  if (W >= 16) return _mm512_loadu_ps(in + (2 * (v / W) + bottom) * W + v % W);
  __m512 r = _mm512_setzero_ps();
  const auto seg = static_cast<__mmask16>((1u << W) - 1u);
  for (int32_t j = 0; j < 16; j += W) {  // 16 / W row segments; lane j reads the row's start
    const float* row = in + (2 * ((v + j) / W) + bottom) * W;
    r = _mm512_mask_loadu_ps(r, static_cast<__mmask16>(seg << j), row - j);
  }
  return r;
}

// The plane's outputs for W in {2, 4, 8, 16}, H = 2 P (P Q a multiple of 16 handled here; the
// rest, if any, by the caller's scalar loop). Returns how many outputs it wrote.
// `rebase`: what to subtract from each lane's index, when a vector spans several whole planes
// (planes of fewer than 16 outputs, chained: their rows continue one another).
inline int64_t pool2x2_narrow(const float* in, int32_t W, int64_t outputs, float* out,
                              int32_t* idx, __m512i rebase = _mm512_setzero_si512()) {
  const __m512i lane2 = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i row_bits = _mm512_set1_epi32(~(W - 1));  // W is a power of two
  int64_t o = 0;
  for (; o + 16 <= outputs; o += 16) {
    const int64_t v = 2 * o;  // virtual column of the first window
    const __m512i vc = _mm512_add_epi32(lane2, _mm512_set1_epi32(static_cast<int32_t>(v)));
    // input index of virtual column c: 2 W (c / W) + c % W = c + (c & ~(W - 1))
    const __m512i first =
        _mm512_sub_epi32(_mm512_add_epi32(vc, _mm512_and_si512(vc, row_bits)), rebase);
    pool2x2_16(virtual_row(in, v, W, 0), virtual_row(in, v + 16, W, 0),
               virtual_row(in, v, W, 1), virtual_row(in, v + 16, W, 1), first, W, out + o, idx + o);
  }
  return o;
}
#endif

// Whether v replaces the running maximum m: larger, or NaN over a number (NaN propagates, as
// in PyTorch); the first maximum wins ties. Written as a select, not a branch.
template <class T>
inline bool takes_over(T v, T m) {
  return (v > m) | ((v != v) & (m == m));
}

void CpuBackend::max_pool2d_forward(const Tensor& x, Tensor& y, Tensor& indices,
                                    const PoolGeom& g) {
  dispatch_float(x, "max_pool2d", [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    int32_t* pi = indices.data<int32_t>();
    const bool two_by_two = g.kh == 2 && g.kw == 2 && g.sh == 2 && g.sw == 2 && g.ph == 0 &&
                            g.pw == 0 && g.H >= 2 * g.P && g.W >= 2 * g.Q;
    int64_t done = 0;  // planes handled 16 / (P Q) at a time
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<T, float>) {
      const int64_t pq = g.P * g.Q;
      if (two_by_two && g.H == 2 * g.P && g.W == 2 * g.Q && (g.W == 2 || g.W == 4 || g.W == 8) &&
          pq < 16 && 16 % pq == 0) {
        // Planes smaller than a vector (SIRe-CNN's 4x4 pool): 16 / (P Q) planes a vector.
        const int64_t per = 16 / pq, groups = g.N * g.C / per;
        alignas(64) int32_t shift[16];
        for (int l = 0; l < 16; ++l) shift[l] = static_cast<int32_t>(l / pq * g.H * g.W);
        const __m512i rebase = _mm512_load_si512(shift);
        parallel_for(0, groups, 256, [&](int64_t lo, int64_t hi) {
          for (int64_t group = lo; group < hi; ++group)  // indices relative to the group's start
            pool2x2_narrow(px + group * per * g.H * g.W, static_cast<int32_t>(g.W), 16,
                           py + group * 16, pi + group * 16, rebase);
        });
        done = groups * per;
      }
    }
#endif
    each_plane(g.N * g.C - done, g.H * g.W, [&](int64_t rest) {
      const int64_t plane = done + rest;
      const T* in = px + plane * g.H * g.W;
      T* out = py + plane * g.P * g.Q;
      int32_t* idx = pi + plane * g.P * g.Q;
      if (two_by_two) {  // SIRe-CNN's and VGG's pools: four candidates, in window order
        int64_t p = 0;
#if defined(__AVX512F__)
        if constexpr (std::is_same_v<T, float>) {
          const bool narrow = g.H == 2 * g.P && g.W == 2 * g.Q &&
                              (g.W == 2 || g.W == 4 || g.W == 8 || g.W == 16);
          if (narrow)  // whole output rows, 16 outputs at a time
            p = pool2x2_narrow(in, static_cast<int32_t>(g.W), g.P * g.Q, out, idx) / g.Q;
        }
#endif
        for (; p < g.P; ++p) {
          const T* r0 = in + 2 * p * g.W;
          const T* r1 = r0 + g.W;
          const int32_t base = static_cast<int32_t>(2 * p * g.W);
          const int32_t w = static_cast<int32_t>(g.W);
          int64_t q = 0;
#if defined(__AVX512F__)
          if constexpr (std::is_same_v<T, float>) {
            const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
            for (; q + 16 <= g.Q; q += 16)
              pool2x2_16(_mm512_loadu_ps(r0 + 2 * q), _mm512_loadu_ps(r0 + 2 * q + 16),
                         _mm512_loadu_ps(r1 + 2 * q), _mm512_loadu_ps(r1 + 2 * q + 16),
                         _mm512_add_epi32(even, _mm512_set1_epi32(base + static_cast<int32_t>(2 * q))),
                         w, out + p * g.Q + q, idx + p * g.Q + q);
          }
#endif
          for (; q < g.Q; ++q) {
            const int32_t c = static_cast<int32_t>(2 * q);
            T m = r0[c];
            int32_t best = base + c;
            const T b = r0[c + 1], d = r1[c], e = r1[c + 1];
            bool t = takes_over(b, m);
            m = t ? b : m;
            best = t ? base + c + 1 : best;
            t = takes_over(d, m);
            m = t ? d : m;
            best = t ? base + w + c : best;
            t = takes_over(e, m);
            m = t ? e : m;
            best = t ? base + w + c + 1 : best;
            out[p * g.Q + q] = m;
            idx[p * g.Q + q] = best;
          }
        }
        return;
      }
      for (int64_t p = 0; p < g.P; ++p) {
        int64_t h0, h1;
        pool_window(p, g.kh, g.sh, g.ph, g.H, &h0, &h1);
        for (int64_t q = 0; q < g.Q; ++q) {
          int64_t w0, w1;
          pool_window(q, g.kw, g.sw, g.pw, g.W, &w0, &w1);
          int64_t best = h0 * g.W + w0;
          T m = in[best];
          for (int64_t h = h0; h < h1; ++h)
            for (int64_t w = w0; w < w1; ++w) {
              const T v = in[h * g.W + w];
              const bool t = takes_over(v, m);
              m = t ? v : m;
              best = t ? h * g.W + w : best;
            }
          out[p * g.Q + q] = m;
          idx[p * g.Q + q] = static_cast<int32_t>(best);
        }
      }
    });
  });
}

void CpuBackend::max_pool2d_backward(const Tensor& dy, const Tensor& indices, Tensor& dx,
                                     const PoolGeom& g) {
  dispatch_float(dy, "max_pool2d_backward", [&](auto tag) {
    using T = decltype(tag);
    const T* pdy = dy.data<T>();
    const int32_t* pi = indices.data<int32_t>();
    T* pdx = dx.data<T>();
    each_plane(g.N * g.C, g.H * g.W, [&](int64_t plane) {
      T* out = pdx + plane * g.H * g.W;
      std::fill(out, out + g.H * g.W, T(0));
      const T* grad = pdy + plane * g.P * g.Q;
      const int32_t* idx = pi + plane * g.P * g.Q;
      for (int64_t i = 0; i < g.P * g.Q; ++i) out[idx[i]] += grad[i];
    });
  });
}

// Nearest-neighbour tables, computed once per call instead of a division per element: the
// source of every output column, and for every input column the run of outputs it feeds
// (contiguous, as the mapping is monotone).
struct NearestTable {
  std::vector<int64_t> source;      // out -> in
  std::vector<int64_t> first, last;  // in -> [first, last) of outputs
  NearestTable(int64_t in, int64_t out) : source(out), first(in, out), last(in, 0) {
    for (int64_t o = 0; o < out; ++o) {
      const int64_t s = nearest_source(o, in, out);
      source[o] = s;
      first[s] = std::min(first[s], o);
      last[s] = std::max(last[s], o + 1);
    }
  }
};

void CpuBackend::upsample_nearest2d_forward(const Tensor& x, Tensor& y, const Tensor* add) {
  dispatch_float(x, "upsample_nearest2d", [&](auto tag) {
    using T = decltype(tag);
    const int64_t H = x.size(2), W = x.size(3), OH = y.size(2), OW = y.size(3);
    const NearestTable rows(H, OH), cols(W, OW);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    const int64_t* sc = cols.source.data();
    if (add) {  // y = upsample(x) + add, row by row (the 2x case without the table)
      const T* pa = add->data<T>();
      const bool by_two = OW == 2 * W;
      const bool stream = by_two && y.nbytes() >= static_cast<size_t>(kStreamBytes);
      each_plane(x.size(0) * x.size(1), OH * OW, [&](int64_t plane) {
        const T* in = px + plane * H * W;
        const int64_t at = plane * OH * OW;
        for (int64_t i = 0; i < OH; ++i) {
          const T* row = in + rows.source[i] * W;
          const T* a = pa + at + i * OW;
          T* o = py + at + i * OW;
          if (stream && upsample2x_add_row_streamed(row, a, o, OW)) continue;
          if (by_two) {
#pragma omp simd
            for (int64_t j = 0; j < OW; ++j) o[j] = row[j / 2] + a[j];
          } else {
            for (int64_t j = 0; j < OW; ++j) o[j] = row[sc[j]] + a[j];
          }
        }
#if defined(__AVX512F__)
        if (stream) _mm_sfence();  // this plane's streamed rows, before anyone reads them
#endif
      });
      return;
    }
    each_plane(x.size(0) * x.size(1), OH * OW, [&](int64_t plane) {
      const T* in = px + plane * H * W;
      T* out = py + plane * OH * OW;
      for (int64_t i = 0; i < OH; ++i) {
        T* o = out + i * OW;
        if (i > 0 && rows.source[i] == rows.source[i - 1]) {  // a repeated row: copy it
          std::copy(o - OW, o, o);
          continue;
        }
        const T* row = in + rows.source[i] * W;
        for (int64_t j = 0; j < OW; ++j) o[j] = row[sc[j]];
      }
    });
  });
}

// Each input element gathers the outputs it fed (no scatter, no zero fill, one writer).
void CpuBackend::upsample_nearest2d_backward(const Tensor& dy, Tensor& dx) {
  dispatch_float(dy, "upsample_nearest2d_backward", [&](auto tag) {
    using T = decltype(tag);
    const int64_t H = dx.size(2), W = dx.size(3), OH = dy.size(2), OW = dy.size(3);
    const NearestTable rows(H, OH), cols(W, OW);
    const T* pdy = dy.data<T>();
    T* pdx = dx.data<T>();
    const bool by_two = OW == 2 * W;
    each_plane(dx.size(0) * dx.size(1), OH * OW, [&](int64_t plane) {
      T* out = pdx + plane * H * W;
      const T* in = pdy + plane * OH * OW;
      for (int64_t h = 0; h < H; ++h) {
        T* o = out + h * W;
        std::fill(o, o + W, T(0));
        for (int64_t i = rows.first[h]; i < rows.last[h]; ++i) {
          const T* r = in + i * OW;
          if (by_two) {
            for (int64_t w = 0; w < W; ++w) o[w] += r[2 * w] + r[2 * w + 1];
          } else {
            for (int64_t w = 0; w < W; ++w)
              for (int64_t j = cols.first[w]; j < cols.last[w]; ++j) o[w] += r[j];
          }
        }
      }
    });
  });
}

void CpuBackend::adaptive_avg_pool2d_forward(const Tensor& x, Tensor& y) {
  dispatch_float(x, "adaptive_avg_pool2d", [&](auto tag) {
    using T = decltype(tag);
    const int64_t H = x.size(2), W = x.size(3), OH = y.size(2), OW = y.size(3);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    each_plane(x.size(0) * x.size(1), H * W, [&](int64_t plane) {
      const T* in = px + plane * H * W;
      T* out = py + plane * OH * OW;
      for (int64_t i = 0; i < OH; ++i) {
        const int64_t h0 = adaptive_start(i, H, OH), h1 = adaptive_end(i, H, OH);
        for (int64_t j = 0; j < OW; ++j) {
          const int64_t w0 = adaptive_start(j, W, OW), w1 = adaptive_end(j, W, OW);
          T s = 0;
          for (int64_t h = h0; h < h1; ++h)
            for (int64_t w = w0; w < w1; ++w) s += in[h * W + w];
          out[i * OW + j] = s / static_cast<T>((h1 - h0) * (w1 - w0));
        }
      }
    });
  });
}

void CpuBackend::adaptive_avg_pool2d_backward(const Tensor& dy, Tensor& dx) {
  dispatch_float(dy, "adaptive_avg_pool2d_backward", [&](auto tag) {
    using T = decltype(tag);
    const int64_t H = dx.size(2), W = dx.size(3), OH = dy.size(2), OW = dy.size(3);
    const T* pdy = dy.data<T>();
    T* pdx = dx.data<T>();
    each_plane(dx.size(0) * dx.size(1), H * W, [&](int64_t plane) {
      T* out = pdx + plane * H * W;
      const T* in = pdy + plane * OH * OW;
      std::fill(out, out + H * W, T(0));
      for (int64_t i = 0; i < OH; ++i) {
        const int64_t h0 = adaptive_start(i, H, OH), h1 = adaptive_end(i, H, OH);
        for (int64_t j = 0; j < OW; ++j) {
          const int64_t w0 = adaptive_start(j, W, OW), w1 = adaptive_end(j, W, OW);
          const T g = in[i * OW + j] / static_cast<T>((h1 - h0) * (w1 - w0));
          for (int64_t h = h0; h < h1; ++h)
            for (int64_t w = w0; w < w1; ++w) out[h * W + w] += g;
        }
      }
    });
  });
}

}  // namespace sire::cpu
