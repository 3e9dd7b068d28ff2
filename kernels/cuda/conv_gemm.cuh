// The implicit-GEMM mainloops shared by the three convolution kernels (conv_forward.cu,
// conv_backward_data.cu, conv_backward_weight.cu). Each pass is a GEMM C[M, Ncols] =
// A[M, Kred] B[Kred, Ncols] whose operands are never stored: a Problem's Loader gathers the
// elements of one 8-deep reduction step straight from the tensors (the implicit im2col), and its
// store() writes an element of C to where it belongs in the output tensor.
//
// The maps of loads and outputs to threads are in conv_tile.h, the Problems in conv_problems.h.
// A block of 256 threads computes a BM x BN tile of C. Two ways to bring the operands into
// shared memory (conv_staging(), runtime.h): through registers, one step ahead, two stages; or
// by cp.async, four stages deep (the default). Three maths on the tiles (conv_math.cuh): FP32
// FMAs (Fp32Math), TF32 tensor-core mma.sync steps (Tf32Math), or 3xTF32 (Tf32Math, three
// mma.sync a tile from operands split in two), chosen by math().
// With split-K (conv_plan.h) blocks along z take disjoint ranges of steps and write partial
// tiles to a workspace; split_reduce_kernel adds them in order and stores. No atomics anywhere.
#pragma once

#include "kernels/cuda/conv_math.cuh"
#include "kernels/cuda/conv_plan.h"
#include "kernels/cuda/conv_problems.h"
#include "kernels/cuda/conv_tile.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/launch.cuh"

namespace sire::cuda::conv {

// Shared-memory operand tiles, `S` stages deep: a[stage][k][row], b[stage][k][col], rows padded
// by `Pad` floats (the math's: conv_tile.h).
template <class T, int S, int Pad>
struct Stages {
  float a[S][kBK][T::BM + Pad];
  float b[S][kBK][T::BN + Pad];
};
constexpr int kPipelineStages = 4;  // cp.async: up to 3 steps' copies in flight behind the math

template <class P, class T, int S, int Pad>
__device__ __forceinline__ void stash(Stages<T, S, Pad>& s, int stage, int tid,
                                      const float (&ra)[T::A_PER], const float (&rb)[T::B_PER]) {
  using L = typename P::template Loader<T>;
#pragma unroll
  for (int i = 0; i < T::A_PER; ++i)
    s.a[stage][tile_k<L::kA, T::BM>(tid, i)][tile_row<L::kA, T::BM>(tid, i)] = ra[i];
#pragma unroll
  for (int i = 0; i < T::B_PER; ++i)
    s.b[stage][tile_k<L::kB, T::BN>(tid, i)][tile_row<L::kB, T::BN>(tid, i)] = rb[i];
}

// cp.async (sm_80+): a 4-byte copy from global to shared memory that bypasses the registers;
// a source that is not ok zero-fills (source size 0, reading nothing). Elsewhere a plain copy,
// which the barriers below order just as well.
__device__ __forceinline__ void copy_async(float* dst, Source src) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  const unsigned d = static_cast<unsigned>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(d), "l"(src.at),
               "r"(src.ok ? 4 : 0));
#else
  *dst = src.ok ? *src.at : 0.0f;
#endif
}
__device__ __forceinline__ void copy_async_commit() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.commit_group;\n" ::);
#endif
}
template <int N>
__device__ __forceinline__ void copy_async_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
#endif
}

// The loader's current step's operands copied into `stage`, to the slots stash() would write;
// then the loader moves on to the next step.
template <class P, class T, int S, int Pad>
__device__ __forceinline__ void issue(Stages<T, S, Pad>& s, int stage, int tid,
                                      typename P::template Loader<T>& ld, const P& p) {
  using L = typename P::template Loader<T>;
  Source pa[T::A_PER], pb[T::B_PER];
  ld.sources(p, pa, pb);
#pragma unroll
  for (int i = 0; i < T::A_PER; ++i)
    copy_async(&s.a[stage][tile_k<L::kA, T::BM>(tid, i)][tile_row<L::kA, T::BM>(tid, i)], pa[i]);
#pragma unroll
  for (int i = 0; i < T::B_PER; ++i)
    copy_async(&s.b[stage][tile_k<L::kB, T::BN>(tid, i)][tile_row<L::kB, T::BN>(tid, i)], pb[i]);
  ld.next(p);
}

// Blocks resident per processor that a kernel is compiled for (__launch_bounds__), so at most
// 65536 / (256 blocks) registers a thread: what the FP32 kernels fitted before the loaders walked
// incrementally (which holds more state in registers; left free, the compiler took more
// registers and fewer blocks fit). The pipelined 64x128 kernels fit 3 blocks without spilling,
// the register-staged ones 2 (ptxas -v, sm_90); 3xTF32's, holding two parts of each fragment,
// 2 (at 3 they spilled).
template <class T, bool kPipelined, class Arith>
constexpr int min_blocks() {
  if (T::BM * T::BN <= 64 * 64) return 4;
  if (T::BM * T::BN <= 64 * 128 && kPipelined && !Arith::kHungry) return 3;
  return 2;
}

// Register-staged mainloop: every step, each thread loads its share of the next step's A and B
// tiles into registers while the block multiplies the current tiles in shared memory, then
// stores them to the other of two stages (one barrier per step).
template <class P, class T, class Arith>
__global__ void __launch_bounds__(kThreads, (min_blocks<T, false, Arith>()))
    conv_gemm_registers(P problem, int per_split, float* partial) {
  __shared__ __align__(32) Stages<T, 2, Arith::kPad> s;
  __shared__ __align__(32) typename Arith::Shared sh;
  const int tid = threadIdx.x;
  const int m0 = blockIdx.y * T::BM, n0 = blockIdx.x * T::BN;
  const BlockWork<P> work = block_work(problem, per_split, static_cast<int>(blockIdx.z));
  const P& p = work.p;
  const Range r = work.r;
  typename P::template Loader<T> ld(p, m0, n0, tid, r.begin);
  Arith arith;
  arith.zero();
  float ra[T::A_PER], rb[T::B_PER];
  if (r.begin < r.end) {
    ld.load(p, ra, rb);
    ld.next(p);
    stash<P, T>(s, 0, tid, ra, rb);
    __syncthreads();
    for (int kt = r.begin; kt < r.end; ++kt) {
      const int st = (kt - r.begin) & 1;
      const bool more = kt + 1 < r.end;
      if (more) {
        ld.load(p, ra, rb);  // step kt + 1, in flight during the arithmetic below
        ld.next(p);
      }
      arith.step(s.a[st], s.b[st], tid);
      if (more) stash<P, T>(s, st ^ 1, tid, ra, rb);
      __syncthreads();
    }
  }
  arith.finish(p, partial, m0, n0, tid, sh);
}

// Pipelined mainloop: the operands go from global to shared memory by cp.async, kPipelineStages
// stages deep, so that the copies of the next three steps are in flight while the block
// multiplies the current one, and no registers hold them on the way. One barrier per step: it
// both publishes step kt's stage and frees the stage computed last step, the one refilled next.
template <class P, class T, class Arith>
__global__ void __launch_bounds__(kThreads, (min_blocks<T, true, Arith>()))
    conv_gemm_pipelined(P problem, int per_split, float* partial) {
  constexpr int S = kPipelineStages;
  __shared__ __align__(32) Stages<T, S, Arith::kPad> s;
  __shared__ __align__(32) typename Arith::Shared sh;
  const int tid = threadIdx.x;
  const int m0 = blockIdx.y * T::BM, n0 = blockIdx.x * T::BN;
  const BlockWork<P> work = block_work(problem, per_split, static_cast<int>(blockIdx.z));
  const P& p = work.p;
  const Range r = work.r;
  typename P::template Loader<T> ld(p, m0, n0, tid, r.begin);
  Arith arith;
  arith.zero();
#pragma unroll
  for (int j = 0; j < S - 1; ++j) {
    if (r.begin + j < r.end) issue<P, T>(s, j, tid, ld, p);  // steps begin .. begin + S - 2
    copy_async_commit();  // one group per step, empty ones included: the count stays exact
  }
  // Stages in turn: step kt computes from `now` and refills `fill` (the stage of step kt - 1),
  // counted with wrap-arounds, not with a modulo each step.
  int now = 0, fill = S - 1;
  for (int kt = r.begin; kt < r.end; ++kt) {
    copy_async_wait<S - 2>();  // this thread's copies of step kt have landed...
    __syncthreads();           // ...and everyone's; step kt-1's stage is free again
    if (kt + S - 1 < r.end) issue<P, T>(s, fill, tid, ld, p);  // step kt + S - 1
    copy_async_commit();
    arith.step(s.a[now], s.b[now], tid);
    now = now == S - 1 ? 0 : now + 1;
    fill = fill == S - 1 ? 0 : fill + 1;
  }
  // No barrier here: finish() stores from registers only. An epilogue that staged its outputs
  // through shared memory would first need copy_async_wait<0>() and __syncthreads().
  arith.finish(p, partial, m0, n0, tid, sh);
}

// C = the sum over splits of the partial tiles (split_sum in conv_problems.h), each element once.
template <class P>
__global__ void split_reduce_kernel(P p, int splits, int batches, const float* partial) {
  SIRE_GRID_LOOP(i, static_cast<int64_t>(p.M) * p.Ncols * batches) {
    split_sum(p, splits, partial, i);
  }
}

// One tile shape's kernel, for the math and the staging set now (runtime.h).
template <class P, class T, class Arith>
void launch_with(const P& p, const dim3& grid, int per_split, float* partial) {
  if (conv_staging() == Staging::kPipelined) {
    auto conv_gemm = conv_gemm_pipelined<P, T, Arith>;
    SIRE_LAUNCH(conv_gemm, grid, kThreads, p, per_split, partial);
  } else {
    auto conv_gemm = conv_gemm_registers<P, T, Arith>;
    SIRE_LAUNCH(conv_gemm, grid, kThreads, p, per_split, partial);
  }
}

template <class P, int BM, int BN>
void launch_tile(const P& p, const ConvPlan& plan, float* partial) {
  const dim3 grid(static_cast<unsigned>(plan.col_blocks), static_cast<unsigned>(plan.row_blocks),
                  static_cast<unsigned>(plan.z_blocks()));
  using T = Tile<BM, BN>;
  switch (math()) {
    case Math::kTF32:
      return launch_with<P, T, Tf32Math<T, false>>(p, grid, plan.per_split, partial);
    case Math::kTF32x3:
      return launch_with<P, T, Tf32Math<T, true>>(p, grid, plan.per_split, partial);
    default:
      return launch_with<P, T, Fp32Math<T>>(p, grid, plan.per_split, partial);
  }
}

// Plans, launches and (with split-K) reduces one convolution pass, or all the GEMMs of a batched
// problem (P::kBatched: p.batches() of them, split alike).
template <class P>
void run(const char* op, const P& p) {
  SIRE_CHECK(p.M > 0 && p.Ncols > 0 && p.ktiles > 0, op, ": empty GEMM (", p.M, " x ", p.Ncols,
             ", ", p.ktiles, " steps)");
  int batches = 1;
  if constexpr (P::kBatched) batches = p.batches();
  const ConvPlan plan =
      plan_conv(p.M, p.Ncols, p.ktiles, device_info().sm_count,
                conv_tiles_fill() ? ConvTiles::kFill : ConvTiles::kLarge, batches);
  SIRE_CHECK(plan.row_blocks < 65536, op, ": ", p.M, " rows exceed the grid");
  Tensor workspace;
  float* partial = nullptr;
  if (plan.splits > 1) {
    workspace = scratch(plan.workspace_floats());
    partial = workspace.data<float>();
  }
  with_tile_shape(plan.tile, [&](auto bm, auto bn) {
    launch_tile<P, decltype(bm)::value, decltype(bn)::value>(p, plan, partial);
  });
  if (partial) {
    SIRE_CHECK(int64_t{p.M} * p.Ncols * plan.batches < (int64_t{1} << 31), op, ": ", p.M, " x ",
               p.Ncols, " x ", plan.batches,
               " outputs are beyond the split-K sum's 32-bit indexing");
    auto reduce_splits = split_reduce_kernel<P>;
    SIRE_LAUNCH(reduce_splits, grid_for(int64_t{p.M} * p.Ncols * plan.batches), kBlock, p,
                plan.splits, plan.batches, partial);
  }
}

// The convolution geometry in 32-bit integers, checked to fit.
inline Geom32 geom32(const char* op, const ConvGeom& g) {
  for (int64_t v : {g.N * g.C * g.H * g.W, g.N * g.K * g.P * g.Q, g.K * g.C * g.R * g.S})
    SIRE_CHECK(v < (int64_t{1} << 31), op, ": a tensor of ", v,
               " elements is beyond the CUDA kernels' 32-bit indexing");
  auto i = [](int64_t v) { return static_cast<int>(v); };
  return Geom32{i(g.N), i(g.C), i(g.H),        i(g.W),        i(g.K),     i(g.R),    i(g.S),
                i(g.P), i(g.Q), i(g.stride_h), i(g.stride_w), i(g.pad_h), i(g.pad_w)};
}

}  // namespace sire::cuda::conv
