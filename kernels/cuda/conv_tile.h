// The tile geometry of the implicit-GEMM convolution kernels: which thread loads which operand
// element of a reduction step, and which elements of the output tile each thread (FP32) or each
// warp (TF32) owns. Host+device functions (SIRE_HD), so that tests/test_conv_emulation.cpp runs
// the same maps on the CPU. The kernels themselves are in conv_gemm.cuh and conv_math.cuh.
#pragma once

#include <cstdint>
#include <cstring>

#include "kernels/common/host_device.h"
#include "kernels/cuda/conv_plan.h"

namespace sire::cuda::conv {

constexpr int kThreads = 256;  // 8 warps per block
constexpr int kBK = kConvBK;   // reduction step
// Floats of padding per shared-memory row. FP32: 4, so that the stores of consecutive pixels
// (Order::kKFast) hit distinct banks. TF32: 8, so that a warp's fragment loads do (its lanes read
// rows t and t + 4 of a step, t < 4, at 8 consecutive columns); those stores then conflict 2-way,
// but a step has 3x more fragment loads than stores.
constexpr int kPadFp32 = 4, kPadTf32 = 8;

template <int BM_, int BN_>
struct Tile {
  static constexpr int BM = BM_, BN = BN_;
  static constexpr int A_PER = BM * kBK / kThreads;  // A elements each thread loads per step
  static constexpr int B_PER = BN * kBK / kThreads;
  // FP32: each thread owns TM x TN outputs; TF32: warps in a 2 x 4 grid, each FM x FN mma tiles
  // of 16 x 8.
  static constexpr int TM = BM / 16, TN = BN / 16;
  static constexpr int WM = 2, WN = 4, FM = BM / (WM * 16), FN = BN / (WN * 8);
  static_assert((BM == 64 || BM == 128) && (BN == 64 || BN == 128 || (BM == 64 && BN == 256)),
                "tile shapes");
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

// TF32: mma.sync.m16n8k8 on fragments in registers. A lane's fragment elements, as the PTX ISA
// lays them out for .tf32 (g = lane / 4, t = lane % 4):
//   A (16 x 8, e < 4): row g + 8 (e % 2), k t + 4 (e / 2)
//   B (8 x 8, e < 2):  k t + 4 e, column g
//   C (16 x 8, e < 4): row g + 8 (e / 2), column 2 t + e % 2
SIRE_HD int mma_a_row(int lane, int e) { return lane / 4 + 8 * (e % 2); }
SIRE_HD int mma_a_k(int lane, int e) { return lane % 4 + 4 * (e / 2); }
SIRE_HD int mma_b_k(int lane, int e) { return lane % 4 + 4 * e; }
SIRE_HD int mma_b_col(int lane) { return lane / 4; }
SIRE_HD int mma_c_row(int lane, int e) { return lane / 4 + 8 * (e / 2); }
SIRE_HD int mma_c_col(int lane, int e) { return 2 * (lane % 4) + e % 2; }

// Where in the block tile warp `warp`'s mma tile (i, j) lies: the tile row of its A fragment's
// element e, the tile column of its B fragment, the tile row and column of its C element e.
template <class T>
SIRE_HD int tf32_a_row(int warp, int i, int lane, int e) {
  return ((warp / T::WN) * T::FM + i) * 16 + mma_a_row(lane, e);
}
template <class T>
SIRE_HD int tf32_b_col(int warp, int j, int lane) {
  return ((warp % T::WN) * T::FN + j) * 8 + mma_b_col(lane);
}
template <class T>
SIRE_HD int tf32_row(int warp, int i, int lane, int e) {
  return ((warp / T::WN) * T::FM + i) * 16 + mma_c_row(lane, e);
}
template <class T>
SIRE_HD int tf32_col(int warp, int j, int lane, int e) {
  return ((warp % T::WN) * T::FN + j) * 8 + mma_c_col(lane, e);
}

// 3xTF32: x = big + small, big = x rounded to the nearest TF32 number (ties away from zero) and
// small = x - big (exact in FP32). The tensor cores read only the top 19 bits of a .tf32 operand
// (they truncate the 13 low ones: cvt.rna.tf32.f32 itself only adds half a TF32 unit and leaves
// them), so small enters the products rounded toward zero: |x - big - small'| <= 2^-21 |x|. A
// product a b is taken as as bb + ab bs + ab bb, three TF32 products, each exact in the FP32
// accumulator; the dropped as bs is below 2^-22 |a b|. So a few units of FP32's roundoff a
// product, where TF32 alone has 2^-11: FP32's accuracy class, from the tensor cores, in 3
// integer/float instructions an operand element (the split below; no cvt). NaN stays NaN (in
// small: NaN - big); x = inf, or finite within 2^-11 of FP32's largest, gives NaN products
// where FP32 gives inf (or, for the latter, a finite value). The same code on the host runs in
// tests/test_conv_emulation.cpp.
struct Tf32Split {
  float big, small;
};
SIRE_HD uint32_t float_bits(float x) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(x);
#else
  uint32_t b;
  std::memcpy(&b, &x, 4);
  return b;
#endif
}
SIRE_HD float bits_float(uint32_t b) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(b);
#else
  float x;
  std::memcpy(&x, &b, 4);
  return x;
#endif
}
SIRE_HD Tf32Split tf32_split(float x) {
  const float big = bits_float((float_bits(x) + 0x1000u) & 0xffffe000u);
  return Tf32Split{big, x - big};
}

// The convolution geometry in 32-bit integers (tensors hold fewer than 2^31 elements).
struct Geom32 {
  int N, C, H, W, K, R, S, P, Q, sh, sw, ph, pw;
};

}  // namespace sire::cuda::conv
