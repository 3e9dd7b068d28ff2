// The three convolution passes as implicit GEMMs C[M, Ncols] = A[M, Kred] B[Kred, Ncols]: each
// Problem says where a thread finds its A and B elements of one 8-deep reduction step in the
// tensors (the implicit im2col: nothing is unfolded into memory) and where an element
// of C goes (store). Host+device code (SIRE_HD): the CUDA kernels (conv_gemm.cuh) run it, and
// tests/test_conv_emulation.cpp runs it on the CPU against the CPU backend.
//
//   forward:         C = y [K, N P Q]    A = weight as wt[tap][c][k]   B = x gathered per tap
//   backward-data:   C = dx [C, N H W]   A = weight as wd[tap][k][c]   B = dy gathered per tap
//   backward-weight: C = dw [K, C R S]   A = dy [K, N P Q]             B = x gathered per pixel
// Forward and backward-data take their reduction as (tap, 8 channels) steps: within a step the
// tap is fixed, so a thread tests the padding once and then reads 8 channels of one pixel.
#pragma once

#include <cstdint>

#include "kernels/common/conv_geometry.h"
#include "kernels/cuda/conv_tile.h"

namespace sire::cuda::conv {

// wt[tap][c][k] = w[k][c][tap]: element i of wt is element weight_for_forward(i) of w.
SIRE_HD int64_t weight_for_forward(int64_t i, int K, int C, int taps) {
  const int64_t k = i % K, c = (i / K) % C, tap = i / (int64_t{K} * C);
  return (k * C + c) * taps + tap;
}
// wd[tap][k][c] = w[k][c][tap].
SIRE_HD int64_t weight_for_backward_data(int64_t i, int K, int C, int taps) {
  const int64_t c = i % C, k = (i / C) % K, tap = i / (int64_t{K} * C);
  return (k * C + c) * taps + tap;
}

// A Loader's sources() gives, for one reduction step, the address of each of this thread's A and
// B elements, or null where the element is zero (padding, past an edge, past the last channel).
// The register-staged kernels read them (gather); the pipelined ones copy them straight into
// shared memory (cp.async, zero-filling the nulls). One index map, two ways of moving the data.
template <class L, class P, int NA, int NB>
SIRE_HD void gather(const L& ld, const P& p, int kt, float (&a)[NA], float (&b)[NB]) {
  const float* pa[NA];
  const float* pb[NB];
  ld.sources(p, kt, pa, pb);
  for (int i = 0; i < NA; ++i) a[i] = pa[i] ? *pa[i] : 0.0f;
  for (int i = 0; i < NB; ++i) b[i] = pb[i] ? *pb[i] : 0.0f;
}

struct Forward {
  const float* __restrict__ x;
  const float* __restrict__ wt;    // [taps][C][K]
  const float* __restrict__ bias;  // may be null
  float* __restrict__ y;
  Geom32 g;
  int M, Ncols, ktiles, cchunks;

  static Forward make(const Geom32& g) {
    Forward p{};
    p.g = g;
    p.M = g.K;
    p.Ncols = g.N * g.P * g.Q;
    p.cchunks = (g.C + kBK - 1) / kBK;
    p.ktiles = g.R * g.S * p.cchunks;
    return p;
  }

  template <class T>
  struct Loader {
    static constexpr Order kA = Order::kRowsFast, kB = Order::kRowsFast;
    const float* ximg;  // this thread's output pixel: its sample, and its top-left tap's input
    int h0, w0, ka, kb, m;
    bool col_ok, m_ok;

    SIRE_HD Loader(const Forward& p, int m0, int n0, int tid) {
      const int col = n0 + tile_row<kB, T::BN>(tid, 0);
      col_ok = col < p.Ncols;
      const int pq = p.g.P * p.g.Q, c = col_ok ? col : 0;
      const int img = c / pq, o = c - img * pq, oh = o / p.g.Q, ow = o - oh * p.g.Q;
      ximg = p.x + static_cast<int64_t>(img) * p.g.C * p.g.H * p.g.W;
      h0 = static_cast<int>(conv_in_coord(oh, 0, p.g.sh, p.g.ph));
      w0 = static_cast<int>(conv_in_coord(ow, 0, p.g.sw, p.g.pw));
      m = m0 + tile_row<kA, T::BM>(tid, 0);
      m_ok = m < p.M;
      ka = tile_k<kA, T::BM>(tid, 0);
      kb = tile_k<kB, T::BN>(tid, 0);
    }

    SIRE_HD void sources(const Forward& p, int kt, const float* (&a)[T::A_PER],
                         const float* (&b)[T::B_PER]) const {
      const int tap = kt / p.cchunks, c0 = (kt - tap * p.cchunks) * kBK;
      const int r = tap / p.g.S, s = tap - r * p.g.S;
      const int h = h0 + r, w = w0 + s;
      const bool inside = col_ok && h >= 0 && h < p.g.H && w >= 0 && w < p.g.W;
      const int hw = p.g.H * p.g.W;
      const float* src = ximg + (inside ? h * p.g.W + w : 0);
      for (int i = 0; i < T::A_PER; ++i) {
        const int c = c0 + ka + i * (kThreads / T::BM);
        a[i] = m_ok && c < p.g.C ? p.wt + (static_cast<int64_t>(tap) * p.g.C + c) * p.g.K + m
                                 : nullptr;
      }
      for (int i = 0; i < T::B_PER; ++i) {
        const int c = c0 + kb + i * (kThreads / T::BN);
        b[i] = inside && c < p.g.C ? src + static_cast<int64_t>(c) * hw : nullptr;
      }
    }
    SIRE_HD void load(const Forward& p, int kt, float (&a)[T::A_PER], float (&b)[T::B_PER]) const {
      gather(*this, p, kt, a, b);
    }
  };

  SIRE_HD void store(int k, int col, float v) const {
    const int pq = g.P * g.Q, img = col / pq, o = col - img * pq;
    y[(static_cast<int64_t>(img) * g.K + k) * pq + o] = v + (bias ? bias[k] : 0.0f);
  }
};

// dx[n][c][h][w] = sum over (tap, k) of wd[tap][k][c] dy[n][k][p][q], (p, q) being the output
// pixel whose tap reads (h, w) (conv_out_coord; with stride > 1 most taps read none). Gathering,
// so every dx element is written once, by one thread: no col2im additions, no atomics.
struct BackwardData {
  const float* __restrict__ dy;
  const float* __restrict__ wd;  // [taps][K][C]
  float* __restrict__ dx;
  Geom32 g;
  int M, Ncols, ktiles, kchunks;

  static BackwardData make(const Geom32& g) {
    BackwardData p{};
    p.g = g;
    p.M = g.C;
    p.Ncols = g.N * g.H * g.W;
    p.kchunks = (g.K + kBK - 1) / kBK;
    p.ktiles = g.R * g.S * p.kchunks;
    return p;
  }

  template <class T>
  struct Loader {
    static constexpr Order kA = Order::kRowsFast, kB = Order::kRowsFast;
    const float* dyimg;  // this thread's input pixel: its sample's dy, and its coordinates
    int h, w, ka, kb, m;
    bool col_ok, m_ok;

    SIRE_HD Loader(const BackwardData& p, int m0, int n0, int tid) {
      const int col = n0 + tile_row<kB, T::BN>(tid, 0);
      col_ok = col < p.Ncols;
      const int hw = p.g.H * p.g.W, c = col_ok ? col : 0;
      const int img = c / hw, o = c - img * hw;
      h = o / p.g.W;
      w = o - h * p.g.W;
      dyimg = p.dy + static_cast<int64_t>(img) * p.g.K * p.g.P * p.g.Q;
      m = m0 + tile_row<kA, T::BM>(tid, 0);
      m_ok = m < p.M;
      ka = tile_k<kA, T::BM>(tid, 0);
      kb = tile_k<kB, T::BN>(tid, 0);
    }

    SIRE_HD void sources(const BackwardData& p, int kt, const float* (&a)[T::A_PER],
                         const float* (&b)[T::B_PER]) const {
      const int tap = kt / p.kchunks, k0 = (kt - tap * p.kchunks) * kBK;
      const int r = tap / p.g.S, s = tap - r * p.g.S;
      int op = 0, oq = 0;
      const bool reads = col_ok && conv_out_coord(h, r, p.g.sh, p.g.ph, p.g.P, &op) &&
                         conv_out_coord(w, s, p.g.sw, p.g.pw, p.g.Q, &oq);
      const int pq = p.g.P * p.g.Q;
      const float* src = dyimg + (reads ? op * p.g.Q + oq : 0);
      for (int i = 0; i < T::A_PER; ++i) {
        const int k = k0 + ka + i * (kThreads / T::BM);
        a[i] = m_ok && k < p.g.K ? p.wd + (static_cast<int64_t>(tap) * p.g.K + k) * p.g.C + m
                                 : nullptr;
      }
      for (int i = 0; i < T::B_PER; ++i) {
        const int k = k0 + kb + i * (kThreads / T::BN);
        b[i] = reads && k < p.g.K ? src + static_cast<int64_t>(k) * pq : nullptr;
      }
    }
    SIRE_HD void load(const BackwardData& p, int kt, float (&a)[T::A_PER],
                      float (&b)[T::B_PER]) const {
      gather(*this, p, kt, a, b);
    }
  };

  SIRE_HD void store(int c, int col, float v) const {
    const int hw = g.H * g.W, img = col / hw, o = col - img * hw;
    dx[(static_cast<int64_t>(img) * g.C + c) * hw + o] = v;
  }
};

// dw[k][c r s] = sum over pixels (n, p, q) of dy[n][k][p][q] x[n][c][p sh - ph + r][q sw - pw + s].
// The reduction runs along memory (pixels), so both tiles load with consecutive threads on
// consecutive pixels (Order::kKFast). Long reduction, small output: split-K's case.
struct BackwardWeight {
  const float* __restrict__ x;
  const float* __restrict__ dy;
  float* __restrict__ dw;
  Geom32 g;
  int M, Ncols, ktiles, npq;

  static BackwardWeight make(const Geom32& g) {
    BackwardWeight p{};
    p.g = g;
    p.M = g.K;
    p.Ncols = g.C * g.R * g.S;
    p.npq = g.N * g.P * g.Q;
    p.ktiles = (p.npq + kBK - 1) / kBK;
    return p;
  }

  template <class T>
  struct Loader {
    static constexpr Order kA = Order::kKFast, kB = Order::kKFast;
    int tid, lane_k, m0;
    // This thread's filter taps (B columns): channel offset within a sample (-1 past the last
    // column) and the tap (r, s).
    int coff[T::B_PER], r[T::B_PER], s[T::B_PER];

    SIRE_HD Loader(const BackwardWeight& p, int m0_, int n0, int tid_) : tid(tid_), m0(m0_) {
      lane_k = tile_k<kA, T::BM>(tid, 0);
      const int rs = p.g.R * p.g.S;
      for (int i = 0; i < T::B_PER; ++i) {
        const int col = n0 + tile_row<kB, T::BN>(tid, i);
        const int c = col / rs, t = col - c * rs;
        coff[i] = col < p.Ncols ? c * p.g.H * p.g.W : -1;
        r[i] = t / p.g.S;
        s[i] = t - r[i] * p.g.S;
      }
    }

    SIRE_HD void sources(const BackwardWeight& p, int kt, const float* (&a)[T::A_PER],
                         const float* (&b)[T::B_PER]) const {
      const int j = kt * kBK + lane_k, pq = p.g.P * p.g.Q;
      const bool ok = j < p.npq;
      const int img = ok ? j / pq : 0, o = ok ? j - img * pq : 0;
      const int oh = o / p.g.Q, ow = o - oh * p.g.Q;
      const float* dyimg = p.dy + static_cast<int64_t>(img) * p.g.K * pq + o;
      const float* ximg = p.x + static_cast<int64_t>(img) * p.g.C * p.g.H * p.g.W;
      const int h0 = static_cast<int>(conv_in_coord(oh, 0, p.g.sh, p.g.ph));
      const int w0 = static_cast<int>(conv_in_coord(ow, 0, p.g.sw, p.g.pw));
      for (int i = 0; i < T::A_PER; ++i) {
        const int m = m0 + tile_row<kA, T::BM>(tid, i);
        a[i] = ok && m < p.M ? dyimg + static_cast<int64_t>(m) * pq : nullptr;
      }
      for (int i = 0; i < T::B_PER; ++i) {
        const int h = h0 + r[i], w = w0 + s[i];
        b[i] = ok && coff[i] >= 0 && h >= 0 && h < p.g.H && w >= 0 && w < p.g.W
                   ? ximg + coff[i] + h * p.g.W + w
                   : nullptr;
      }
    }
    SIRE_HD void load(const BackwardWeight& p, int kt, float (&a)[T::A_PER],
                      float (&b)[T::B_PER]) const {
      gather(*this, p, kt, a, b);
    }
  };

  SIRE_HD void store(int k, int col, float v) const {
    dw[static_cast<int64_t>(k) * Ncols + col] = v;
  }
};

}  // namespace sire::cuda::conv
