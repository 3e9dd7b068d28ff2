// The arithmetic of the convolution kernels' tiles (conv_gemm.cuh runs them): what one 8-deep
// reduction step does with the staged A and B tiles in shared memory, and how the finished
// accumulators go out. FP32 FMAs (Fp32Math); TF32 or 3xTF32 on the tensor cores (Tf32Math).
// The maps of elements to threads and lanes are conv_tile.h's, which
// tests/test_conv_emulation.cpp runs on the CPU.
#pragma once

#include "kernels/cuda/conv_tile.h"
#include "kernels/cuda/launch.cuh"

namespace sire::cuda::conv {

// An element of C: straight to the output, or to this split's slice of the workspace.
template <class P>
__device__ __forceinline__ void emit(const P& p, float* partial, int m, int n, float v) {
  if (m >= p.M || n >= p.Ncols) return;
  if (partial)
    partial[(static_cast<int64_t>(blockIdx.z) * p.M + m) * p.Ncols + n] = v;
  else
    p.store(m, n, v);
}

// FP32 math: each thread accumulates a (BM/16) x (BN/16) sub-tile with FMAs, reading its rows
// and columns as float4s from shared memory.
template <class T>
struct Fp32Math {
  static constexpr int kPad = kPadFp32;
  static constexpr bool kHungry = false;  // for registers (min_blocks)
  static constexpr int TM = T::TM, TN = T::TN;
  float acc[TM][TN];
  struct Shared {};

  __device__ __forceinline__ void zero() {
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
      for (int j = 0; j < TN; ++j) acc[i][j] = 0.0f;
  }
  __device__ __forceinline__ void step(const float (&a)[kBK][T::BM + kPad],
                                       const float (&b)[kBK][T::BN + kPad], int tid) {
#pragma unroll
    for (int k = 0; k < kBK; ++k) {
      // This thread's rows and columns (fp32_row, fp32_col) come in runs of 4: float4 reads.
      float x[TM], y[TN];
#pragma unroll
      for (int g = 0; g < TM / 4; ++g) {
        const float4 v = *reinterpret_cast<const float4*>(&a[k][fp32_row(tid, g * 4)]);
        x[g * 4] = v.x, x[g * 4 + 1] = v.y, x[g * 4 + 2] = v.z, x[g * 4 + 3] = v.w;
      }
#pragma unroll
      for (int g = 0; g < TN / 4; ++g) {
        const float4 v = *reinterpret_cast<const float4*>(&b[k][fp32_col(tid, g * 4)]);
        y[g * 4] = v.x, y[g * 4 + 1] = v.y, y[g * 4 + 2] = v.z, y[g * 4 + 3] = v.w;
      }
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(x[i], y[j], acc[i][j]);
    }
  }
  template <class P>
  __device__ __forceinline__ void finish(const P& p, float* partial, int m0, int n0, int tid,
                                         Shared&) {
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
      for (int j = 0; j < TN; ++j)
        emit(p, partial, m0 + fp32_row(tid, i), n0 + fp32_col(tid, j), acc[i][j]);
  }
};

// TF32 math: 8 warps in a 2 x 4 grid, each computing (BM/2) x (BN/4) of C as FM x FN tiles of
// 16 x 8 with mma.sync.m16n8k8 on operands rounded to TF32 (cvt.rna: 10 mantissa bits, to
// nearest), accumulating in FP32. Each lane loads its fragment elements from the shared tiles
// itself (the maps of conv_tile.h, which tests/test_conv_emulation.cpp runs): a fragment
// element is one shared-memory load and one conversion, and the accumulators are plain
// registers whose tile positions are known, so the epilogue stores them directly.
// kThree: 3xTF32 (conv_tile.h's tf32_split), each operand as two TF32 numbers and three mma
// per tile, the small products first: FP32's accuracy class from the tensor cores.
template <class T, bool kThree>
struct Tf32Math {
  static constexpr int kPad = kPadTf32;
  static constexpr bool kHungry = kThree;       // for registers (min_blocks)
  static constexpr int FM = T::FM, FN = T::FN;  // mma tiles per warp
  struct Shared {};
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  float acc[FM][FN][4];

  __device__ __forceinline__ void zero() {
#pragma unroll
    for (int i = 0; i < FM; ++i)
#pragma unroll
      for (int j = 0; j < FN; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.0f;
  }
  static __device__ __forceinline__ unsigned tf32(float x) {
    unsigned r;
    asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(r) : "f"(x));
    return r;
  }
  static __device__ __forceinline__ void mma(float (&d)[4], const unsigned (&a)[4],
                                             const unsigned (&b)[2]) {
    asm("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0, %1, %2, %3}, "
        "{%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  }
  // 3xTF32: a lane's A (B) fragment of mma row i (column j), split into big and small parts.
  static __device__ __forceinline__ void split_a(const float (&a)[kBK][T::BM + kPad], int warp,
                                                 int i, int lane, unsigned (&big)[4],
                                                 unsigned (&small)[4]) {
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const Tf32Split v = tf32_split(a[mma_a_k(lane, e)][tf32_a_row<T>(warp, i, lane, e)]);
      big[e] = float_bits(v.big);
      small[e] = float_bits(v.small);
    }
  }
  static __device__ __forceinline__ void split_b(const float (&b)[kBK][T::BN + kPad], int warp,
                                                 int j, int lane, unsigned (&big)[2],
                                                 unsigned (&small)[2]) {
#pragma unroll
    for (int e = 0; e < 2; ++e) {
      const Tf32Split v = tf32_split(b[mma_b_k(lane, e)][tf32_b_col<T>(warp, j, lane)]);
      big[e] = float_bits(v.big);
      small[e] = float_bits(v.small);
    }
  }
  // The three products, the small ones first.
  static __device__ __forceinline__ void mma3(float (&d)[4], const unsigned (&ab)[4],
                                              const unsigned (&as)[4], const unsigned (&bb)[2],
                                              const unsigned (&bs)[2]) {
    mma(d, as, bb);
    mma(d, ab, bs);
    mma(d, ab, bb);
  }
  __device__ __forceinline__ void step(const float (&a)[kBK][T::BM + kPad],
                                       const float (&b)[kBK][T::BN + kPad], int tid) {
    const int warp = tid / 32, lane = tid % 32;
    if constexpr (kThree) {
      // One operand's parts held for the whole step, the other's split one mma row (column) at
      // a time: whichever holds fewer registers is held (B's with 128x128 tiles, A's with
      // 64x256), so that the tiles keep within their register budgets.
      if constexpr (FN * 2 <= FM * 4) {
        unsigned fb[FN][2], sb[FN][2];  // big and small parts
#pragma unroll
        for (int j = 0; j < FN; ++j) split_b(b, warp, j, lane, fb[j], sb[j]);
#pragma unroll
        for (int i = 0; i < FM; ++i) {
          unsigned fa[4], sa[4];
          split_a(a, warp, i, lane, fa, sa);
#pragma unroll
          for (int j = 0; j < FN; ++j) mma3(acc[i][j], fa, sa, fb[j], sb[j]);
        }
      } else {
        unsigned fa[FM][4], sa[FM][4];
#pragma unroll
        for (int i = 0; i < FM; ++i) split_a(a, warp, i, lane, fa[i], sa[i]);
#pragma unroll
        for (int j = 0; j < FN; ++j) {
          unsigned fb[2], sb[2];
          split_b(b, warp, j, lane, fb, sb);
#pragma unroll
          for (int i = 0; i < FM; ++i) mma3(acc[i][j], fa[i], sa[i], fb, sb);
        }
      }
    } else {
      unsigned fa[FM][4], fb[FN][2];
#pragma unroll
      for (int i = 0; i < FM; ++i)
#pragma unroll
        for (int e = 0; e < 4; ++e)
          fa[i][e] = tf32(a[mma_a_k(lane, e)][tf32_a_row<T>(warp, i, lane, e)]);
#pragma unroll
      for (int j = 0; j < FN; ++j)
#pragma unroll
        for (int e = 0; e < 2; ++e)
          fb[j][e] = tf32(b[mma_b_k(lane, e)][tf32_b_col<T>(warp, j, lane)]);
#pragma unroll
      for (int i = 0; i < FM; ++i)
#pragma unroll
        for (int j = 0; j < FN; ++j) mma(acc[i][j], fa[i], fb[j]);
    }
  }
  template <class P>
  __device__ __forceinline__ void finish(const P& p, float* partial, int m0, int n0, int tid,
                                         Shared&) {
    const int warp = tid / 32, lane = tid % 32;
#pragma unroll
    for (int i = 0; i < FM; ++i)
#pragma unroll
      for (int j = 0; j < FN; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e)
          emit(p, partial, m0 + tf32_row<T>(warp, i, lane, e), n0 + tf32_col<T>(warp, j, lane, e),
               acc[i][j][e]);
  }
#else
  __device__ void zero() { __trap(); }  // set_math refuses TF32 maths on devices without TF32
  __device__ void step(const float (&)[kBK][T::BM + kPad], const float (&)[kBK][T::BN + kPad],
                       int) {}
  template <class P>
  __device__ void finish(const P&, float*, int, int, int, Shared&) {}
#endif
};

}  // namespace sire::cuda::conv
