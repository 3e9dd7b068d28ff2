// The harness of the CPU emulation of the CUDA convolution kernels (tests/test_conv_emulation.cpp,
// tests/test_winograd_emulation.cpp): a conv_gemm launch run block by block, thread by thread and
// step by step as the GPU runs it (the Problems' Loaders, the tile maps, blockIdx.z decoded by the
// kernels' own block_work, the splits summed by their split_sum), its TF32 and 3xTF32 maths mma
// by mma with the hardware's fragment layouts. Catch2 checks inside: include it from tests only.
#pragma once

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/common/conv_geometry.h"
#include "kernels/cuda/conv_plan.h"
#include "kernels/cuda/conv_problems.h"

namespace sire::cuda::conv::emulation {

// The kernels' maths (conv_math.cuh): FP32 FMAs over the whole tile; TF32 mma by mma on the
// operands as staged (the maps, not TF32's rounding: compared as tightly as FP32); 3xTF32 mma by
// mma on the operands split by the kernels' own tf32_split, each product's operands truncated to
// TF32 as the tensor cores truncate them (the rounding itself: compared as tightly as FP32 too).
enum class Mode { kFP32, kTF32, kTF32x3 };
inline const char* mode_name(Mode m) {
  return m == Mode::kFP32 ? "FP32" : m == Mode::kTF32 ? "TF32" : "3xTF32";
}

// What the tensor cores read of a .tf32 operand: its top 19 bits.
inline float tf32_truncated(float x) { return bits_float(float_bits(x) & 0xffffe000u); }

inline ConvPlan forced_plan(int64_t M, int64_t N, int ktiles, ConvTile tile, int splits,
                            int batches = 1) {
  ConvPlan p;
  p.batches = batches;
  p.tile = tile;
  p.rows = M;
  p.cols = N;
  p.ktiles = ktiles;
  p.row_blocks = (M + tile_rows(tile) - 1) / tile_rows(tile);
  p.col_blocks = (N + tile_cols(tile) - 1) / tile_cols(tile);
  p.per_split = std::max(1, (ktiles + splits - 1) / splits);
  p.splits = (ktiles + p.per_split - 1) / p.per_split;
  return p;
}

// The fragment layouts of mma.sync.m16n8k8 with .tf32 operands, as the PTX ISA tabulates them
// (g = lane / 4, t = lane % 4): what the hardware does with the registers. Written out here
// case by case, apart from conv_tile.h's formulas, so that the emulation below checks those.
struct RowCol {
  int r, c;
};
inline RowCol hw_a(int lane, int e) {  // A, 16 x 8: (row, k) of register e < 4
  const int g = lane / 4, t = lane % 4;
  const RowCol at[4] = {{g, t}, {g + 8, t}, {g, t + 4}, {g + 8, t + 4}};
  return at[e];
}
inline RowCol hw_b(int lane, int e) {  // B, 8 x 8: (k, column) of register e < 2
  const int g = lane / 4, t = lane % 4;
  const RowCol at[2] = {{t, g}, {t + 4, g}};
  return at[e];
}
inline RowCol hw_c(int lane, int e) {  // C and D, 16 x 8: (row, column) of register e < 4
  const int g = lane / 4, t = lane % 4;
  const RowCol at[4] = {{g, 2 * t}, {g, 2 * t + 1}, {g + 8, 2 * t}, {g + 8, 2 * t + 1}};
  return at[e];
}

// One step of TF32 math (Tf32Math::step) on the staged tiles As [k][BM], Bs [k][BN], emulated:
// each lane's registers loaded from where the kernel loads them (conv_tile.h's maps), the mma
// done as the hardware does it (hw_a, hw_b, hw_c), the product added to the accumulators
// acc[warp][lane][i][j][e]. Checks that every operand element of every mma comes from exactly
// one lane's register.
template <class T>
bool tf32_step(const std::vector<float>& As, const std::vector<float>& Bs, std::vector<float>& acc,
               Mode mode) {
  bool ok = true;
  for (int warp = 0; warp < kThreads / 32; ++warp)
    for (int i = 0; i < T::FM; ++i)
      for (int j = 0; j < T::FN; ++j) {
        float A[16][8], B[8][8];
        int ha[16][8] = {}, hb[8][8] = {};
        for (int lane = 0; lane < 32; ++lane) {
          for (int e = 0; e < 4; ++e) {
            const RowCol at = hw_a(lane, e);
            A[at.r][at.c] = As[mma_a_k(lane, e) * T::BM + tf32_a_row<T>(warp, i, lane, e)];
            ++ha[at.r][at.c];
          }
          for (int e = 0; e < 2; ++e) {
            const RowCol at = hw_b(lane, e);
            B[at.r][at.c] = Bs[mma_b_k(lane, e) * T::BN + tf32_b_col<T>(warp, j, lane)];
            ++hb[at.r][at.c];
          }
        }
        for (auto& row : ha)
          for (int h : row) ok &= h == 1;
        for (auto& row : hb)
          for (int h : row) ok &= h == 1;
        for (int lane = 0; lane < 32; ++lane)
          for (int e = 0; e < 4; ++e) {
            const RowCol at = hw_c(lane, e);
            float& d = acc[(((warp * 32 + lane) * T::FM + i) * T::FN + j) * 4 + e];
            if (mode == Mode::kTF32) {
              float sum = 0.0f;
              for (int k = 0; k < 8; ++k) sum += A[at.r][k] * B[k][at.c];
              d += sum;
              continue;
            }
            // Tf32Math<T, true>::mma3: small A x big B, big A x small B, big A x big B.
            for (int product = 0; product < 3; ++product) {
              float sum = 0.0f;
              for (int k = 0; k < 8; ++k) {
                const Tf32Split a = tf32_split(A[at.r][k]), b = tf32_split(B[k][at.c]);
                const float x = product == 0 ? a.small : a.big;
                const float y = product == 1 ? b.small : b.big;
                sum += tf32_truncated(x) * tf32_truncated(y);  // exact: 11 x 11 bits
              }
              d += sum;
            }
          }
      }
  return ok;
}

// One launch of a conv_gemm kernel (and split_reduce_kernel), emulated: every block (its problem
// and steps decoded from blockIdx.z by the kernels' own block_work), every thread's loads of
// every step placed in the tile as stash() places them, the tile product (FP32: the whole tile;
// TF32: mma by mma, tf32_step), every thread's outputs emitted as the kernel's epilogue emits
// them, and the splits summed by the reduction kernel's own split_sum. Checks on the way that
// each shared-memory slot is written exactly once per step and each output once per block.
template <class P, int BM, int BN>
void emulate(const P& p, const ConvPlan& plan, Mode mode) {
  const bool tf32 = mode != Mode::kFP32;
  using T = Tile<BM, BN>;
  using L = typename P::template Loader<T>;
  const int64_t MN = int64_t{p.M} * p.Ncols;
  std::vector<float> partial(plan.splits > 1 ? plan.z_blocks() * MN : 0, NAN);
  std::vector<float> As(kBK * BM), Bs(kBK * BN), acc(BM * BN);
  std::vector<int> a_hits(kBK * BM), b_hits(kBK * BN), out_hits(BM * BN);
  std::vector<float> frag_acc(BM * BN);  // TF32: [warp][lane][i][j][e]
  bool slots_ok = true, outputs_ok = true, fragments_ok = true;
  for (int z = 0; z < plan.z_blocks(); ++z)
    for (int64_t by = 0; by < plan.row_blocks; ++by)
      for (int64_t bx = 0; bx < plan.col_blocks; ++bx) {
        const int m0 = static_cast<int>(by * BM), n0 = static_cast<int>(bx * BN);
        const BlockWork<P> work = block_work(p, plan.per_split, z);
        const int begin = work.r.begin, end = work.r.end;
        std::vector<L> loaders;
        for (int tid = 0; tid < kThreads; ++tid) loaders.emplace_back(work.p, m0, n0, tid, begin);
        std::fill(acc.begin(), acc.end(), 0.0f);
        std::fill(frag_acc.begin(), frag_acc.end(), 0.0f);
        for (int kt = begin; kt < end; ++kt) {
          std::fill(a_hits.begin(), a_hits.end(), 0);
          std::fill(b_hits.begin(), b_hits.end(), 0);
          for (int tid = 0; tid < kThreads; ++tid) {
            float ra[T::A_PER], rb[T::B_PER];
            loaders[tid].load(work.p, ra, rb);
            loaders[tid].next(work.p);
            for (int i = 0; i < T::A_PER; ++i) {
              const int at = tile_k<L::kA, BM>(tid, i) * BM + tile_row<L::kA, BM>(tid, i);
              As[at] = ra[i];
              ++a_hits[at];
            }
            for (int i = 0; i < T::B_PER; ++i) {
              const int at = tile_k<L::kB, BN>(tid, i) * BN + tile_row<L::kB, BN>(tid, i);
              Bs[at] = rb[i];
              ++b_hits[at];
            }
          }
          for (int h : a_hits) slots_ok &= h == 1;
          for (int h : b_hits) slots_ok &= h == 1;
          if (tf32) {
            fragments_ok &= tf32_step<T>(As, Bs, frag_acc, mode);
            continue;
          }
          for (int k = 0; k < kBK; ++k)
            for (int m = 0; m < BM; ++m)
              for (int n = 0; n < BN; ++n) acc[m * BN + n] += As[k * BM + m] * Bs[k * BN + n];
        }
        if (tf32)  // the epilogue's map: each accumulator to its tile position
          for (int warp = 0; warp < kThreads / 32; ++warp)
            for (int lane = 0; lane < 32; ++lane)
              for (int i = 0; i < T::FM; ++i)
                for (int j = 0; j < T::FN; ++j)
                  for (int e = 0; e < 4; ++e)
                    acc[tf32_row<T>(warp, i, lane, e) * BN + tf32_col<T>(warp, j, lane, e)] =
                        frag_acc[(((warp * 32 + lane) * T::FM + i) * T::FN + j) * 4 + e];
        std::fill(out_hits.begin(), out_hits.end(), 0);
        for (int tid = 0; tid < kThreads; ++tid)
          for (int i = 0; i < T::TM; ++i)
            for (int j = 0; j < T::TN; ++j) {
              const int r = fp32_row(tid, i), c = fp32_col(tid, j);
              ++out_hits[r * BN + c];
              const int m = m0 + r, n = n0 + c;
              if (m >= p.M || n >= p.Ncols) continue;
              if (plan.splits > 1)
                partial[(int64_t{z} * p.M + m) * p.Ncols + n] = acc[r * BN + c];
              else
                work.p.store(m, n, acc[r * BN + c]);
            }
        for (int h : out_hits) outputs_ok &= h == 1;
      }
  CHECK(slots_ok);
  CHECK(outputs_ok);
  CHECK(fragments_ok);
  if (plan.splits > 1)
    for (int64_t i = 0; i < MN * plan.batches; ++i) split_sum(p, plan.splits, partial.data(), i);
}

template <class P>
void emulate(const P& p, const ConvPlan& plan, Mode mode) {
  with_tile_shape(plan.tile, [&](auto bm, auto bn) {
    emulate<P, decltype(bm)::value, decltype(bn)::value>(p, plan, mode);
  });
}

// A square convolution geometry: N x C x H x W in, K out, k x k kernel, stride s, padding p.
inline ConvGeom conv_geom(int64_t N, int64_t C, int64_t H, int64_t W, int64_t K, int64_t k,
                          int64_t s, int64_t p) {
  ConvGeom g;
  g.N = N, g.C = C, g.H = H, g.W = W, g.K = K, g.R = g.S = k;
  g.stride_h = g.stride_w = s, g.pad_h = g.pad_w = p;
  g.P = conv_out_size(H, k, s, p);
  g.Q = conv_out_size(W, k, s, p);
  return g;
}

}  // namespace sire::cuda::conv::emulation
