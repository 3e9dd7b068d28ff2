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

// wt[tap][c][k] = w[k][c][tap]: element i of wt is element weight_for_forward(i) of w. In 32-bit
// arithmetic: w has fewer than 2^31 elements (geom32 checks), and a 64-bit division is a
// subroutine call on the GPU (three per element, in a kernel run before every pass).
SIRE_HD int64_t weight_for_forward(int64_t i64, int K, int C, int taps) {
  const int i = static_cast<int>(i64), k = i % K, c = (i / K) % C, tap = i / (K * C);
  return (k * C + c) * taps + tap;
}
// wd[tap][k][c] = w[k][c][tap].
SIRE_HD int64_t weight_for_backward_data(int64_t i64, int K, int C, int taps) {
  const int i = static_cast<int>(i64), c = i % C, k = (i / C) % K, tap = i / (K * C);
  return (k * C + c) * taps + tap;
}

// Where one operand element of a step comes from: `at` when `ok`; when not, the element is a zero
// (padding, past an edge, past the last channel) and `at` is still a readable address (the
// tensor's first element), so that a copy of size 0 from it never points outside the tensor.
struct Source {
  const float* at;
  bool ok;
};

// A Loader walks one block's reduction steps in order, for one thread: constructed at the block's
// first step, sources() gives the Source of each of this thread's A and B elements of the
// current step, and next() moves to the following step. The walk is incremental (pointers advance
// by constants; a division only when the block starts), because the kernels are bound by issued
// instructions and per-step index arithmetic competed with the FMAs (docs/cuda.md). The
// register-staged kernels read the sources (gather); the pipelined ones copy them straight into
// shared memory (cp.async, zero-filling where a source is not ok). One index map, two ways of
// moving the data.
template <class L, class P, int NA, int NB>
SIRE_HD void gather(const L& ld, const P& p, float (&a)[NA], float (&b)[NB]) {
  Source sa[NA], sb[NB];
  ld.sources(p, sa, sb);
  for (int i = 0; i < NA; ++i) a[i] = sa[i].ok ? *sa[i].at : 0.0f;
  for (int i = 0; i < NB; ++i) b[i] = sb[i].ok ? *sb[i].at : 0.0f;
}
SIRE_HD Source source(bool ok, const float* at, const float* fallback) {
  return Source{ok ? at : fallback, ok};
}

// Forward and backward-data reduce over (tap, channel chunk of kBK): step kt is tap
// kt / chunks, channels from (kt % chunks) * kBK. TapWalk is that position, stepped in order.
struct TapWalk {
  int r, s, c0;  // the tap (row, column) and the step's first channel
  SIRE_HD void start(int kt, int chunks, int S) {
    const int tap = kt / chunks;
    c0 = (kt - tap * chunks) * kBK;
    r = tap / S;
    s = tap - r * S;
  }
  // To the next step; true when the tap changed (the caller re-aims its pointers).
  SIRE_HD bool next(int channels, int S) {
    c0 += kBK;
    if (c0 < channels) return false;
    c0 = 0;
    if (++s == S) s = 0, ++r;
    return true;
  }
};

struct Forward {
  static constexpr bool kBatched = false;  // one GEMM (conv_gemm.cuh)
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
    // Channels between one thread's consecutive A (B) elements of a step.
    static constexpr int kAStride = kThreads / T::BM, kBStride = kThreads / T::BN;
    const float* ximg;  // this thread's output pixel: its sample, and its top-left tap's input
    int h0, w0, ka, kb, m;
    bool col_ok, m_ok;
    TapWalk at;
    const float* arow;  // wt[tap][c0 + ka][m]
    const float* bpix;  // x[sample][c0 + kb] at the tap's input pixel (meaningful when inside)
    bool inside;        // the tap's input pixel is in the image (not padding)

    SIRE_HD Loader(const Forward& p, int m0, int n0, int tid, int kt) {
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
      at.start(kt, p.cchunks, p.g.S);
      aim(p);
    }
    SIRE_HD void aim(const Forward& p) {
      const int h = h0 + at.r, w = w0 + at.s, hw = p.g.H * p.g.W;
      inside = col_ok && h >= 0 && h < p.g.H && w >= 0 && w < p.g.W;
      bpix = ximg + (inside ? h * p.g.W + w : 0) + static_cast<int64_t>(at.c0 + kb) * hw;
      arow = p.wt + (static_cast<int64_t>(at.r * p.g.S + at.s) * p.g.C + at.c0 + ka) * p.g.K + m;
    }
    SIRE_HD void next(const Forward& p) {
      if (at.next(p.g.C, p.g.S)) return aim(p);
      arow += kBK * p.g.K;
      bpix += static_cast<int64_t>(kBK) * p.g.H * p.g.W;
    }
    SIRE_HD void sources(const Forward& p, Source (&a)[T::A_PER], Source (&b)[T::B_PER]) const {
      for (int i = 0; i < T::A_PER; ++i)
        a[i] = source(m_ok && at.c0 + ka + i * kAStride < p.g.C,
                      arow + static_cast<int64_t>(i * kAStride) * p.g.K, p.wt);
      for (int i = 0; i < T::B_PER; ++i)
        b[i] = source(inside && at.c0 + kb + i * kBStride < p.g.C,
                      bpix + static_cast<int64_t>(i * kBStride) * p.g.H * p.g.W, p.x);
    }
    SIRE_HD void load(const Forward& p, float (&a)[T::A_PER], float (&b)[T::B_PER]) const {
      gather(*this, p, a, b);
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
  static constexpr bool kBatched = false;  // one GEMM (conv_gemm.cuh)
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
    static constexpr int kAStride = kThreads / T::BM, kBStride = kThreads / T::BN;
    const float* dyimg;  // this thread's input pixel: its sample's dy, and its coordinates
    int h, w, ka, kb, m;
    bool col_ok, m_ok;
    TapWalk at;         // c0 counts output channels (k) here
    const float* arow;  // wd[tap][c0 + ka][m]
    const float* bpix;  // dy[sample][c0 + kb] at the output pixel the tap came from (if reads)
    bool reads;         // some output pixel's tap reads this input pixel

    SIRE_HD Loader(const BackwardData& p, int m0, int n0, int tid, int kt) {
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
      at.start(kt, p.kchunks, p.g.S);
      aim(p);
    }
    SIRE_HD void aim(const BackwardData& p) {
      int op = 0, oq = 0;
      reads = col_ok && conv_out_coord(h, at.r, p.g.sh, p.g.ph, p.g.P, &op) &&
              conv_out_coord(w, at.s, p.g.sw, p.g.pw, p.g.Q, &oq);
      const int pq = p.g.P * p.g.Q;
      bpix = dyimg + (reads ? op * p.g.Q + oq : 0) + static_cast<int64_t>(at.c0 + kb) * pq;
      arow = p.wd + (static_cast<int64_t>(at.r * p.g.S + at.s) * p.g.K + at.c0 + ka) * p.g.C + m;
    }
    SIRE_HD void next(const BackwardData& p) {
      if (at.next(p.g.K, p.g.S)) return aim(p);
      arow += kBK * p.g.C;
      bpix += static_cast<int64_t>(kBK) * p.g.P * p.g.Q;
    }
    SIRE_HD void sources(const BackwardData& p, Source (&a)[T::A_PER],
                         Source (&b)[T::B_PER]) const {
      for (int i = 0; i < T::A_PER; ++i)
        a[i] = source(m_ok && at.c0 + ka + i * kAStride < p.g.K,
                      arow + static_cast<int64_t>(i * kAStride) * p.g.C, p.wd);
      for (int i = 0; i < T::B_PER; ++i)
        b[i] = source(reads && at.c0 + kb + i * kBStride < p.g.K,
                      bpix + static_cast<int64_t>(i * kBStride) * p.g.P * p.g.Q, p.dy);
    }
    SIRE_HD void load(const BackwardData& p, float (&a)[T::A_PER], float (&b)[T::B_PER]) const {
      gather(*this, p, a, b);
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
  static constexpr bool kBatched = false;  // one GEMM (conv_gemm.cuh)
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
    static constexpr int kRowStride = kThreads / kBK;  // rows between a thread's elements
    int row0;       // this thread's first A row (output channel), m0 + tid / kBK
    unsigned a_ok;  // bit i: A element i's row exists
    // This thread's filter taps (B columns): offset in a sample's x from the pixel the tap (0, 0)
    // reads (c H W + r W + s; -1 past the last column), and the tap (r, s).
    int boff[T::B_PER], r[T::B_PER], s[T::B_PER];
    // The walk: this thread's pixel of the step, j = kt kBK + tid % kBK, as (img, oh, ow).
    int img, oh, ow;
    int w0;             // the input column the tap (0, 0) reads
    int pix;            // x's offset in a sample of the input pixel the tap (0, 0) reads
    unsigned rows_in;   // bit i: B element i's column exists and its input row is in the image
    const float* dyp;   // dy[img][row0] at (oh, ow)
    const float* ximg;  // x[img]

    SIRE_HD Loader(const BackwardWeight& p, int m0, int n0, int tid, int kt) {
      row0 = m0 + tile_row<kA, T::BM>(tid, 0);
      a_ok = 0;
      for (int i = 0; i < T::A_PER; ++i)
        if (m0 + tile_row<kA, T::BM>(tid, i) < p.M) a_ok |= 1u << i;
      const int rs = p.g.R * p.g.S;
      for (int i = 0; i < T::B_PER; ++i) {
        const int col = n0 + tile_row<kB, T::BN>(tid, i);
        const int c = col / rs, t = col - c * rs;
        r[i] = t / p.g.S;
        s[i] = t - r[i] * p.g.S;
        boff[i] = col < p.Ncols ? c * p.g.H * p.g.W + r[i] * p.g.W + s[i] : -1;
      }
      const int pq = p.g.P * p.g.Q, j = kt * kBK + tile_k<kA, T::BM>(tid, 0);
      img = j / pq;
      const int o = j - img * pq;
      oh = o / p.g.Q;
      ow = o - oh * p.g.Q;
      aim(p);
    }
    SIRE_HD void aim(const BackwardWeight& p) {
      const int pq = p.g.P * p.g.Q;
      dyp = p.dy + (static_cast<int64_t>(img) * p.g.K + row0) * pq + oh * p.g.Q + ow;
      ximg = p.x + static_cast<int64_t>(img) * p.g.C * p.g.H * p.g.W;
      const int h0 = static_cast<int>(conv_in_coord(oh, 0, p.g.sh, p.g.ph));
      w0 = static_cast<int>(conv_in_coord(ow, 0, p.g.sw, p.g.pw));
      pix = h0 * p.g.W + w0;
      rows_in = 0;
      for (int i = 0; i < T::B_PER; ++i) {
        const int h = h0 + r[i];
        if (img < p.g.N && boff[i] >= 0 && h >= 0 && h < p.g.H) rows_in |= 1u << i;
      }
    }
    // kBK pixels on: usually along the same output row (the fast case: pointers advance); at the
    // end of a row (or with fewer than kBK columns, a few rows on) the pointers are re-aimed.
    SIRE_HD void next(const BackwardWeight& p) {
      ow += kBK;
      if (ow < p.g.Q) {
        dyp += kBK;
        w0 += kBK * p.g.sw;
        pix += kBK * p.g.sw;
        return;
      }
      while (ow >= p.g.Q) ow -= p.g.Q, ++oh;
      while (oh >= p.g.P) oh -= p.g.P, ++img;
      aim(p);
    }
    SIRE_HD void sources(const BackwardWeight& p, Source (&a)[T::A_PER],
                         Source (&b)[T::B_PER]) const {
      const bool ok = img < p.g.N;  // past the last pixel: zeros
      const int pq = p.g.P * p.g.Q;
      for (int i = 0; i < T::A_PER; ++i)
        a[i] =
            source(ok && (a_ok >> i & 1u), dyp + static_cast<int64_t>(i * kRowStride) * pq, p.dy);
      for (int i = 0; i < T::B_PER; ++i) {
        const int w = w0 + s[i];
        b[i] = source((rows_in >> i & 1u) && w >= 0 && w < p.g.W, ximg + (pix + boff[i]), p.x);
      }
    }
    SIRE_HD void load(const BackwardWeight& p, float (&a)[T::A_PER], float (&b)[T::B_PER]) const {
      gather(*this, p, a, b);
    }
  };

  SIRE_HD void store(int k, int col, float v) const {
    dw[static_cast<int64_t>(k) * Ncols + col] = v;
  }
};

// What a block of the GEMM kernels (conv_gemm.cuh) computes, from its blockIdx.z: its problem
// and its reduction steps [r.begin, r.end). z is a split of the reduction (split-K); for a batched
// problem (P::kBatched: Winograd's 36 products) it is (GEMM of the batch) x splits + split, the
// GEMMs all `ktiles` long. Host+device, so that the emulation decodes z as the kernels do.
struct Range {
  int begin, end;
};
template <class P>
struct BlockWork {
  P p;
  Range r;
};
template <class P>
SIRE_HD BlockWork<P> block_work(const P& problem, int per_split, int z) {
  P p = problem;
  if constexpr (P::kBatched) {
    const int splits = (problem.ktiles + per_split - 1) / per_split, batch = z / splits;
    p = problem.batch(batch);
    z -= batch * splits;
  }
  const int begin = z * per_split, end = begin + per_split;
  return BlockWork<P>{p, Range{begin, end < p.ktiles ? end : p.ktiles}};
}

// With split-K, element i of C (of all a batched problem's GEMMs, one after the other): the sum
// of its partial values in split order, then the problem's store. The partial tiles lie as the
// kernels write them (emit() in conv_math.cuh): partial[(z M + m) Ncols + n], z = batch x splits
// + split.
// In 32-bit arithmetic: C has fewer than 2^31 elements (run() checks; a 64-bit division is a
// subroutine call on the GPU). Eight loads before their adds: where C is small and the splits
// many (a first layer's weight gradient: 1728 outputs of 64 -> 3 channels at 3x3, one thread
// each), the sum waits on memory, and left to itself ptxas kept two loads in flight (an H200 had
// that pass 12 us slower than with the four of the 64-bit version before it). The adds stay in
// split order: the same sum.
template <class P>
SIRE_HD void split_sum(const P& p, int splits, const float* partial, int64_t i64) {
  const int mn = p.M * p.Ncols, i = static_cast<int>(i64);
  const int batch = i / mn;
  const int at = i - batch * mn, m = at / p.Ncols;
  const float* part = partial + int64_t{batch} * splits * mn + at;
  constexpr int kInFlight = 8;
  float s = 0.0f;
  int z = 0;
  for (; z + kInFlight <= splits; z += kInFlight, part += int64_t{kInFlight} * mn) {
    float v[kInFlight];
    for (int u = 0; u < kInFlight; ++u) v[u] = part[int64_t{u} * mn];
    for (int u = 0; u < kInFlight; ++u) s += v[u];
  }
  for (; z < splits; ++z, part += mn) s += *part;
  if constexpr (P::kBatched)
    p.batch(batch).store(m, at - m * p.Ncols, s);
  else
    p.store(m, at - m * p.Ncols, s);
}

}  // namespace sire::cuda::conv
