// Shared by the .cu files: grid sizes for element-wise loops and deterministic block reductions.
#pragma once

#include <cstdint>

#include "kernels/cuda/check.h"
#include "kernels/cuda/runtime.h"

namespace sire::cuda {

constexpr int kBlock = 256;  // threads per block of the element-wise and reduction kernels

// Blocks for a grid-stride loop over n elements: enough to fill the device several times over,
// no more (each thread then handles several elements and the launch stays small).
inline unsigned grid_for(int64_t n) {
  const int64_t cap = static_cast<int64_t>(device_info().sm_count) * 16;
  const int64_t need = (n + kBlock - 1) / kBlock;
  return static_cast<unsigned>(need < 1 ? 1 : (need < cap ? need : cap));
}

// Grid-stride loop over [0, n).
#define SIRE_GRID_LOOP(i, n)                                                             \
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)

// Kernels whose thread work is a host+device functor (work.run(i) for each i of [0, total):
// conv_winograd.h's transforms, pool2x2.h, upsample2x.h), which the CPU emulation tests run too.
template <class Work>
__global__ void per_index_kernel(Work work, int64_t total) {
  SIRE_GRID_LOOP(i, total) { work.run(i); }
}
template <class Work>
void launch_per_index(const Work& work, int64_t total) {
  auto kernel = per_index_kernel<Work>;
  SIRE_LAUNCH(kernel, grid_for(total), kBlock, work, total);
}

// Whether p is aligned to `bytes`: the condition of the 8- and 16-byte accesses.
inline bool aligned_to(const void* p, uintptr_t bytes) {
  return reinterpret_cast<uintptr_t>(p) % bytes == 0;
}

// Sum of v over the block (kBlock threads), the same bits every run: a fixed shuffle tree inside
// each warp, then the warp sums added in order. Every thread gets the result.
__device__ inline double block_sum(double v) {
  __shared__ double warp_sums[kBlock / 32];
  __shared__ double total;
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0) warp_sums[warp] = v;
  __syncthreads();
  if (threadIdx.x == 0) {
    double s = 0.0;
    for (int w = 0; w < kBlock / 32; ++w) s += warp_sums[w];
    total = s;
  }
  __syncthreads();
  const double result = total;
  __syncthreads();  // the shared slots may be reused by the next call
  return result;
}

// Largest value over the block; NaN if any thread holds one (as std::max_element would not, but
// a NaN logit makes the loss NaN either way).
__device__ inline float block_max(float v) {
  __shared__ float warp_max[kBlock / 32];
  __shared__ float total;
  for (int offset = 16; offset > 0; offset >>= 1) {
    const float o = __shfl_down_sync(0xffffffffu, v, offset);
    v = (o > v || o != o) ? o : v;
  }
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0) warp_max[warp] = v;
  __syncthreads();
  if (threadIdx.x == 0) {
    float m = warp_max[0];
    for (int w = 1; w < kBlock / 32; ++w)
      m = (warp_max[w] > m || warp_max[w] != warp_max[w]) ? warp_max[w] : m;
    total = m;
  }
  __syncthreads();
  const float result = total;
  __syncthreads();
  return result;
}

}  // namespace sire::cuda
