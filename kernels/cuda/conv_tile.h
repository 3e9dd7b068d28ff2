// The tile geometry of the implicit-GEMM convolution kernels: which thread loads which operand
// element of a reduction step, and which elements of the output tile each thread (FP32) or each
// warp (TF32) owns. Host+device functions (SIRE_HD), so that tests/test_conv_emulation.cpp runs
// the same maps on the CPU. The kernels themselves are in conv_gemm.cuh.
#pragma once

#include <cstdint>

#include "kernels/common/host_device.h"
#include "kernels/cuda/conv_plan.h"

namespace sire::cuda::conv {

constexpr int kThreads = 256;  // 8 warps per block
constexpr int kBK = kConvBK;   // reduction step
constexpr int kPad = 4;        // floats of padding per shared-memory row: conflict-free stores

template <int BM_, int BN_>
struct Tile {
  static constexpr int BM = BM_, BN = BN_;
  static constexpr int A_PER = BM * kBK / kThreads;  // A elements each thread loads per step
  static constexpr int B_PER = BN * kBK / kThreads;
  // FP32: each thread owns TM x TN outputs; TF32: warps in a 2 x 4 grid, each FM x FN 16x16 tiles.
  static constexpr int TM = BM / 16, TN = BN / 16;
  static constexpr int WM = 2, WN = 4, FM = BM / (WM * 16), FN = BN / (WN * 16);
  static_assert((BM == 64 || BM == 128) && (BN == 64 || BN == 128), "tile shapes");
};

// How a thread's loads map onto a kBK x ROWS operand tile (ROWS = BM for A, BN for B):
//   kRowsFast: consecutive threads take consecutive rows (coalesced when rows are contiguous in
//              memory: output pixels, or output channels of a rearranged weight);
//   kKFast:    consecutive threads take consecutive reduction steps (coalesced when the
//              reduction runs along memory: pixels, in backward-weight).
enum class Order { kRowsFast, kKFast };

template <Order O, int ROWS>
SIRE_HD int tile_row(int tid, int i) {
  return O == Order::kRowsFast ? tid % ROWS : tid / kBK + i * (kThreads / kBK);
}
template <Order O, int ROWS>
SIRE_HD int tile_k(int tid, int i) {
  return O == Order::kRowsFast ? tid / ROWS + i * (kThreads / ROWS) : tid % kBK;
}

// FP32 output i (of TM) / j (of TN) of thread tid: rows ty*4 + {0..3} (+64), columns
// tx*4 + {0..3} (+64), so that a thread reads its 4 rows (columns) as one float4, and a warp's
// float4 reads of a shared-memory row hit distinct banks.
SIRE_HD int fp32_row(int tid, int i) { return (i / 4) * 64 + (tid / 16) * 4 + i % 4; }
SIRE_HD int fp32_col(int tid, int j) { return (j / 4) * 64 + (tid % 16) * 4 + j % 4; }

// TF32: element e (of 256, row-major) of 16x16 tile (i, j) of warp `warp`.
template <class T>
SIRE_HD int tf32_row(int warp, int i, int e) {
  return ((warp / T::WN) * T::FM + i) * 16 + e / 16;
}
template <class T>
SIRE_HD int tf32_col(int warp, int j, int e) {
  return ((warp % T::WN) * T::FN + j) * 16 + e % 16;
}

// The convolution geometry in 32-bit integers (tensors hold fewer than 2^31 elements).
struct Geom32 {
  int N, C, H, W, K, R, S, P, Q, sh, sw, ph, pw;
};

}  // namespace sire::cuda::conv
