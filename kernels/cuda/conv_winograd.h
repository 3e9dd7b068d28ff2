// Winograd F(4x4, 3x3) on the GPU, for 3x3 "same" convolutions at stride 1: the forward pass, the
// input gradient (the forward of the flipped kernel, so also a transposed convolution's forward)
// and the weight gradient (below). The transforms are kernels/common/winograd.h's, shared with
// the CPU backend. The forward in four launches (conv_winograd.cu):
//   1. U[point][in][out] = G g G^T, one thread per (in, out) channel pair;
//   2. V[point][in][tile] = B^T d B, one thread per (channel, 4x4 output tile), its 6x6 input
//      patch read with zeros outside the plane;
//   3. M[point] = U[point]^T V[point], 36 GEMMs of [out x in] x [in x tiles] on the implicit-GEMM
//      mainloops of conv_gemm.cuh (WinogradProduct: a batched Problem, one GEMM per blockIdx.z);
//   4. y = A^T M A (+ bias), one thread per (output channel, tile), written where the tile
//      lies in the plane.
// Steps 2-4 run chunk by chunk over the batch when V and M would be larger than the runtime's
// cap (winograd_chunk_samples below).
// A 4x4 output tile and channel pair costs 36 multiplications where the direct sum takes 144;
// the price is V and M in memory (2.25x the input's and output's size each) and 10-20x the
// direct sum's rounding (tests/test_reference.cpp measures the CPU's). Host+device code
// (SIRE_HD): tests/test_conv_emulation.cpp runs each thread's work, and the product's loaders,
// on the CPU against the CPU backend.
#pragma once

#include <cstdint>

#include "kernels/common/winograd.h"
#include "kernels/cuda/conv_problems.h"
#include "kernels/cuda/runtime.h"

namespace sire::cuda::conv {

constexpr int64_t kWinogradMinChannels = 16;   // where it fits (as on the CPU)
constexpr int64_t kWinogradAutoChannels = 64;  // where it is used by default

// Whether the Winograd kernels take the convolution of geometry g (its forward pass, and its
// input gradient: the same test, the channel roles swapped) under setting `use`. The same in
// every math: its products run in the math set (TF32 and 3xTF32 on the tensor cores), and the
// GPU tests hold Winograd in TF32 to TF32's own norm-wise bound and in 3xTF32 to FP32 Winograd's
// (an H200 measured 2.5e-3..3.8e-3 relative L2 in TF32 against the bound's 5e-3).
inline bool winograd_takes(const ConvGeom& g, Winograd use) {
  if (use == Winograd::kOff || !winograd::fits_geometry(g) || g.C < kWinogradMinChannels ||
      g.K < kWinogradMinChannels)
    return false;
  return use == Winograd::kAlways || (g.C >= kWinogradAutoChannels && g.K >= kWinogradAutoChannels);
}

// A Winograd convolution: `in` channels of N planes H x W to `out` channels of planes of the same
// size, cut into th x tw tiles of 4x4 outputs (the last ones partly past the plane).
struct WinogradGeom {
  int N, in, out, H, W, th, tw;
  static WinogradGeom make(int N, int in, int out, int H, int W) {
    return WinogradGeom{N,
                        in,
                        out,
                        H,
                        W,
                        (H + winograd::kOut - 1) / winograd::kOut,
                        (W + winograd::kOut - 1) / winograd::kOut};
  }
  SIRE_HD int tiles() const { return N * th * tw; }  // the columns of each point's GEMM
  // Floats of U, V and M.
  int64_t u_floats() const { return int64_t{winograd::kPoints} * in * out; }
  int64_t v_floats() const { return int64_t{winograd::kPoints} * in * tiles(); }
  int64_t m_floats() const { return int64_t{winograd::kPoints} * out * tiles(); }
};

// The Winograd geometry of convolution g's forward pass, or (input_gradient) of its input
// gradient: the same planes, the channel roles swapped.
inline WinogradGeom winograd_geometry(const ConvGeom& g, bool input_gradient) {
  const auto i32 = [](int64_t v) { return static_cast<int>(v); };
  return WinogradGeom::make(i32(g.N), i32(input_gradient ? g.K : g.C),
                            i32(input_gradient ? g.C : g.K), i32(g.H), i32(g.W));
}

// Chunks of the batch. A whole batch's V and M are 2.25x its input and output each (75 MB for 64
// channels of 32x32 planes at batch 64; 3.7 GB at 224x224). So the batch is cut into chunks of
// samples whose V and M together fit in `budget` bytes (the runtime's winograd_chunk_bytes,
// 256 MiB by default), and the input transform, the products and the output transform run chunk
// by chunk on one scratch buffer. The weight gradient alike, with V and dM (the same sizes), each
// chunk's products added to dU. Samples per chunk: the most that fit (at least 1; all N when
// budget is 0), spread evenly over the chunks that takes (64 samples at most 26 a chunk: 22, 22,
// 20), and few enough for the kernels' 32-bit indexing of V and M. Chunks as small as half the
// L2, so that V and M never leave it, were tried as the default and measured slower (runtime.h).
inline int winograd_chunk_samples(const WinogradGeom& g, int64_t budget) {
  const int64_t tiles = int64_t{g.th} * g.tw;  // per sample
  const int64_t bytes = int64_t{winograd::kPoints} * (g.in + g.out) * tiles * 4;
  const int64_t indexable = ((int64_t{1} << 31) - 1) /
                            (int64_t{winograd::kPoints} * (g.in > g.out ? g.in : g.out) * tiles);
  int64_t most = budget > 0 ? budget / bytes : g.N;
  most = most < indexable ? most : indexable;
  most = most < g.N ? most : g.N;
  if (most < 1) return 1;
  const int64_t chunks = (g.N + most - 1) / most;
  return static_cast<int>((g.N + chunks - 1) / chunks);
}

// Samples [n0, n0 + n) of a batch of geometry `all`: their geometry, and where they start in the
// input ([N][in][H][W]) and the output ([N][out][H][W]).
struct WinogradChunk {
  WinogradGeom g;
  int64_t in_offset, out_offset;
};
inline WinogradChunk winograd_chunk(const WinogradGeom& all, int n0, int n) {
  const int64_t plane = int64_t{all.H} * all.W;
  return WinogradChunk{WinogradGeom::make(n, all.in, all.out, all.H, all.W),
                       int64_t{n0} * all.in * plane, int64_t{n0} * all.out * plane};
}

// The transforms' threads divide their index in 32 bits (a 64-bit division is a subroutine call on
// the GPU): fewer than 2^31 of them, as U, V and M are checked to hold fewer floats.

// Where tile `col` lies: its sample and the plane position of its top-left output.
struct TileAt {
  int n, h0, w0;
};
SIRE_HD TileAt tile_at(const WinogradGeom& g, int col) {
  const int per = g.th * g.tw, n = col / per, t = col - n * per, ty = t / g.tw;
  return TileAt{n, ty * winograd::kOut, (t - ty * g.tw) * winograd::kOut};
}

// 1. U[point][in][out] from w. Thread i: out = i % out, in = i / out (consecutive threads write
// consecutive floats of U). Forward: g = w[out][in] (w is [out][in][3][3]). flip: the input
// gradient's, whose `in` channels are w's outputs: g = w[in][out] turned by 180 degrees.
struct WinogradWeight {
  const float* w;
  float* u;
  int in, out;
  bool flip;
  SIRE_HD int64_t threads() const { return int64_t{in} * out; }
  SIRE_HD void run(int64_t i) const {
    const int o = static_cast<int>(i) % out, c = static_cast<int>(i) / out;  // 32-bit: see above
    const float* src = w + (flip ? int64_t{c} * out + o : int64_t{o} * in + c) * 9;
    float g[9], t[winograd::kPoints];
    for (int j = 0; j < 9; ++j) g[j] = src[flip ? 8 - j : j];
    winograd::weight_tile(g, t);
    const int64_t point = int64_t{in} * out;
    for (int p = 0; p < winograd::kPoints; ++p) u[p * point + i] = t[p];
  }
};

// 2. V[point][c][col] from x ([N][in][H][W]). Thread i: col = i % tiles, c = i / tiles
// (consecutive threads on consecutive tiles: V's rows written whole). The patch of tile (h0, w0)
// starts at (h0 - 1, w0 - 1): padding 1.
struct WinogradInput {
  const float* x;
  float* v;
  WinogradGeom g;
  SIRE_HD int64_t threads() const { return int64_t{g.in} * g.tiles(); }
  SIRE_HD void run(int64_t i) const {
    const int cols = g.tiles(), c = static_cast<int>(i) / cols, col = static_cast<int>(i) % cols;
    const TileAt at = tile_at(g, col);
    const float* plane = x + (int64_t{at.n} * g.in + c) * g.H * g.W;
    float d[winograd::kPoints], t[winograd::kPoints];
    for (int r = 0; r < winograd::kIn; ++r) {
      const int h = at.h0 - 1 + r;
      for (int s = 0; s < winograd::kIn; ++s) {
        const int w = at.w0 - 1 + s;
        d[r * winograd::kIn + s] =
            h >= 0 && h < g.H && w >= 0 && w < g.W ? plane[h * g.W + w] : 0.0f;
      }
    }
    winograd::input_tile(d, t);
    const int64_t point = int64_t{g.in} * cols;
    for (int p = 0; p < winograd::kPoints; ++p) v[p * point + i] = t[p];
  }
};

// 3. M[point][o][col] = sum over c of U[point][c][o] V[point][c][col]: for each point a GEMM with
// C = M[point] [out, tiles], A = U[point] read as wt is in Forward (consecutive threads on
// consecutive output channels), B = V[point] (consecutive threads on consecutive tiles); the
// reduction runs over input channels, kBK a step. Batched: batch(point) is the GEMM of one point,
// run by the blocks whose blockIdx.z decodes to that point (block_work, conv_problems.h), split
// alike when the 36 GEMMs together leave the device under-filled (plan_conv).
struct WinogradProduct {
  static constexpr bool kBatched = true;
  const float* __restrict__ u;  // [36][in][out]
  const float* __restrict__ v;  // [36][in][tiles]
  float* __restrict__ m;        // [36][out][tiles]
  int M, Ncols, ktiles, in;

  static WinogradProduct make(const WinogradGeom& g) {
    WinogradProduct p{};
    p.M = g.out;
    p.Ncols = g.tiles();
    p.in = g.in;
    p.ktiles = (g.in + kBK - 1) / kBK;
    return p;
  }
  SIRE_HD int batches() const { return winograd::kPoints; }
  SIRE_HD WinogradProduct batch(int point) const {
    WinogradProduct p = *this;
    p.u += int64_t{point} * in * M;
    p.v += int64_t{point} * in * Ncols;
    p.m += int64_t{point} * M * Ncols;
    return p;
  }

  template <class T>
  struct Loader {
    static constexpr Order kA = Order::kRowsFast, kB = Order::kRowsFast;
    static constexpr int kAStride = kThreads / T::BM, kBStride = kThreads / T::BN;
    int c0, ka, kb;
    bool m_ok, col_ok;
    const float* arow;  // U[c0 + ka][m]
    const float* bcol;  // V[c0 + kb][col]

    SIRE_HD Loader(const WinogradProduct& p, int m0, int n0, int tid, int kt) {
      const int m = m0 + tile_row<kA, T::BM>(tid, 0), col = n0 + tile_row<kB, T::BN>(tid, 0);
      m_ok = m < p.M;
      col_ok = col < p.Ncols;
      ka = tile_k<kA, T::BM>(tid, 0);
      kb = tile_k<kB, T::BN>(tid, 0);
      c0 = kt * kBK;
      arow = p.u + static_cast<int64_t>(c0 + ka) * p.M + (m_ok ? m : 0);
      bcol = p.v + static_cast<int64_t>(c0 + kb) * p.Ncols + (col_ok ? col : 0);
    }
    SIRE_HD void next(const WinogradProduct& p) {
      c0 += kBK;
      arow += static_cast<int64_t>(kBK) * p.M;
      bcol += static_cast<int64_t>(kBK) * p.Ncols;
    }
    SIRE_HD void sources(const WinogradProduct& p, Source (&a)[T::A_PER],
                         Source (&b)[T::B_PER]) const {
      for (int i = 0; i < T::A_PER; ++i)
        a[i] = source(m_ok && c0 + ka + i * kAStride < p.in,
                      arow + static_cast<int64_t>(i * kAStride) * p.M, p.u);
      for (int i = 0; i < T::B_PER; ++i)
        b[i] = source(col_ok && c0 + kb + i * kBStride < p.in,
                      bcol + static_cast<int64_t>(i * kBStride) * p.Ncols, p.v);
    }
    SIRE_HD void load(const WinogradProduct& p, float (&a)[T::A_PER], float (&b)[T::B_PER]) const {
      gather(*this, p, a, b);
    }
  };

  SIRE_HD void store(int o, int col, float val) const {
    m[static_cast<int64_t>(o) * Ncols + col] = val;
  }
};

// 4. y ([N][out][H][W]) from M, + bias[o] when given. Thread i: col = i % tiles, o = i / tiles
// (consecutive threads read consecutive floats of each point's M).
struct WinogradOutput {
  const float* m;
  const float* bias;  // may be null
  float* y;
  WinogradGeom g;
  SIRE_HD int64_t threads() const { return int64_t{g.out} * g.tiles(); }
  SIRE_HD void run(int64_t i) const {
    const int cols = g.tiles(), o = static_cast<int>(i) / cols, col = static_cast<int>(i) % cols;
    const int64_t point = int64_t{g.out} * cols;
    float t[winograd::kPoints], r[winograd::kOut * winograd::kOut];
    for (int p = 0; p < winograd::kPoints; ++p) t[p] = m[p * point + i];
    winograd::output_tile(t, r);
    const TileAt at = tile_at(g, col);
    const float b = bias ? bias[o] : 0.0f;
    float* plane = y + (int64_t{at.n} * g.out + o) * g.H * g.W;
    for (int dh = 0; dh < winograd::kOut && at.h0 + dh < g.H; ++dh)
      for (int dw = 0; dw < winograd::kOut && at.w0 + dw < g.W; ++dw)
        plane[(at.h0 + dh) * g.W + at.w0 + dw] = r[dh * winograd::kOut + dw] + b;
  }
};

// The weight gradient, on the transposed transforms (kernels/common/winograd.h): with
// y = A^T (U (.) V) A, dU[point][k][c] = sum over tiles of dM[point][k][tile] V[point][c][tile],
// dM = A dY A^T, and dw = G^T dU G. Three more steps beside WinogradInput's V of x:
//   dM from dy (WinogradOutputGrad), one thread per (output channel, tile);
//   the 36 products dU[point] = dM[point] V[point]^T, a batched GEMM whose reduction runs over
//     tiles, along memory (WinogradWeightProduct; split across blocks where the 36 GEMMs alone
//     leave the device under-filled, as the large planes' 64 x 64 channels do);
//   dw from dU (WinogradWeightGrad), one thread per (output channel, input channel).

// dM[point][k][col] = (A dY A^T)[point] of the 4x4 block of dy ([N][K][H][W]) at tile col (zeros
// past the plane). Thread i: col = i % tiles, k = i / tiles. g.out: dy's channels.
struct WinogradOutputGrad {
  const float* dy;
  float* dm;
  WinogradGeom g;
  SIRE_HD int64_t threads() const { return int64_t{g.out} * g.tiles(); }
  SIRE_HD void run(int64_t i) const {
    const int cols = g.tiles(), k = static_cast<int>(i) / cols, col = static_cast<int>(i) % cols;
    const TileAt at = tile_at(g, col);
    const float* plane = dy + (int64_t{at.n} * g.out + k) * g.H * g.W;
    float d[winograd::kOut * winograd::kOut], t[winograd::kPoints];
    for (int dh = 0; dh < winograd::kOut; ++dh)
      for (int dw = 0; dw < winograd::kOut; ++dw) {
        const int h = at.h0 + dh, w = at.w0 + dw;
        d[dh * winograd::kOut + dw] = h < g.H && w < g.W ? plane[h * g.W + w] : 0.0f;
      }
    winograd::output_grad_tile(d, t);
    const int64_t point = int64_t{g.out} * cols;
    for (int p = 0; p < winograd::kPoints; ++p) dm[p * point + i] = t[p];
  }
};

// dU[point][k][c] = sum over col of dM[point][k][col] V[point][c][col]: for each point a GEMM
// with C = dU[point] [out, in], A = dM[point], B = V[point] read transposed; both operands run
// along the reduction in memory, so both load with consecutive threads on consecutive tiles
// (Order::kKFast), as BackwardWeight's do. With `accumulate`, C is added to dU (a chunk of the
// batch after the first: the sum over tiles goes on across chunks).
struct WinogradWeightProduct {
  static constexpr bool kBatched = true;
  const float* __restrict__ dm;  // [36][out][tiles]
  const float* __restrict__ v;   // [36][in][tiles]
  float* __restrict__ du;        // [36][out][in]
  int M, Ncols, ktiles, tiles;
  bool accumulate;

  static WinogradWeightProduct make(const WinogradGeom& g) {
    WinogradWeightProduct p{};
    p.M = g.out;
    p.Ncols = g.in;
    p.tiles = g.tiles();
    p.ktiles = (p.tiles + kBK - 1) / kBK;
    return p;
  }
  SIRE_HD int batches() const { return winograd::kPoints; }
  SIRE_HD WinogradWeightProduct batch(int point) const {
    WinogradWeightProduct p = *this;
    p.dm += int64_t{point} * M * tiles;
    p.v += int64_t{point} * Ncols * tiles;
    p.du += int64_t{point} * M * Ncols;
    return p;
  }

  template <class T>
  struct Loader {
    static constexpr Order kA = Order::kKFast, kB = Order::kKFast;
    static constexpr int kRowStride = kThreads / kBK;  // rows between a thread's elements
    int j;                // this thread's tile of the step: kt kBK + tid % kBK
    unsigned a_ok, b_ok;  // bit i: A (B) element i's row (column) exists
    const float* arow;    // dM[m0 + tid / kBK][j]
    const float* bcol;    // V[n0 + tid / kBK][j]

    SIRE_HD Loader(const WinogradWeightProduct& p, int m0, int n0, int tid, int kt) {
      a_ok = b_ok = 0;
      for (int i = 0; i < T::A_PER; ++i)
        if (m0 + tile_row<kA, T::BM>(tid, i) < p.M) a_ok |= 1u << i;
      for (int i = 0; i < T::B_PER; ++i)
        if (n0 + tile_row<kB, T::BN>(tid, i) < p.Ncols) b_ok |= 1u << i;
      j = kt * kBK + tile_k<kA, T::BM>(tid, 0);
      const int row = a_ok & 1u ? m0 + tile_row<kA, T::BM>(tid, 0) : 0;
      const int col = b_ok & 1u ? n0 + tile_row<kB, T::BN>(tid, 0) : 0;
      arow = p.dm + static_cast<int64_t>(row) * p.tiles + j;
      bcol = p.v + static_cast<int64_t>(col) * p.tiles + j;
    }
    SIRE_HD void next(const WinogradWeightProduct&) {
      j += kBK;
      arow += kBK;
      bcol += kBK;
    }
    SIRE_HD void sources(const WinogradWeightProduct& p, Source (&a)[T::A_PER],
                         Source (&b)[T::B_PER]) const {
      const bool in = j < p.tiles;
      for (int i = 0; i < T::A_PER; ++i)
        a[i] = source(in && (a_ok >> i & 1u), arow + static_cast<int64_t>(i * kRowStride) * p.tiles,
                      p.dm);
      for (int i = 0; i < T::B_PER; ++i)
        b[i] = source(in && (b_ok >> i & 1u), bcol + static_cast<int64_t>(i * kRowStride) * p.tiles,
                      p.v);
    }
    SIRE_HD void load(const WinogradWeightProduct& p, float (&a)[T::A_PER],
                      float (&b)[T::B_PER]) const {
      gather(*this, p, a, b);
    }
  };

  SIRE_HD void store(int k, int c, float val) const {
    float& to = du[static_cast<int64_t>(k) * Ncols + c];
    to = accumulate ? to + val : val;
  }
};

// dw[k][c] (3x3, of w [out][in][3][3]) = G^T dU[.][k][c] G. Thread i: c = i % in, k = i / in.
struct WinogradWeightGrad {
  const float* du;
  float* dw;
  int in, out;
  SIRE_HD int64_t threads() const { return int64_t{in} * out; }
  SIRE_HD void run(int64_t i) const {
    const int64_t point = int64_t{in} * out;
    float t[winograd::kPoints], r[9];
    for (int p = 0; p < winograd::kPoints; ++p) t[p] = du[p * point + i];
    winograd::weight_grad_tile(t, r);
    for (int j = 0; j < 9; ++j) dw[i * 9 + j] = r[j];
  }
};

}  // namespace sire::cuda::conv
