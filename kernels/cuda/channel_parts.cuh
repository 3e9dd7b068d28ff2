// Per-channel work on [N, C, inner] tensors, shared by batch norm and the per-channel
// element-wise kernels (bias, channel sums): the layout and its split of each channel into parts
// (one block each, summed in a fixed order: no atomics), walking a part without a division per
// value, and the element-wise passes that move 4 floats at a time when they can.
#pragma once

#include <cstdint>
#include <initializer_list>

#include "engine/tensor.h"
#include "kernels/cuda/channel_walk.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/vector_access.h"

namespace sire::cuda {

// x viewed as [N, C, inner]; a channel holds N * inner values.
struct ChannelLayout {
  int N, C, inner;
  int parts;  // blocks per channel
  __host__ __device__ int64_t count() const { return static_cast<int64_t>(N) * inner; }
};

// Blocks per channel from the shape alone (so results do not depend on the device): about
// 4096 values per block, at most 64 blocks.
inline ChannelLayout layout_of(const Tensor& x) {
  ChannelLayout l;
  l.N = static_cast<int>(x.size(0));
  l.C = static_cast<int>(x.size(1));  // channels go along grid.x (2^31 - 1), parts along y (64)
  const int64_t planes = x.size(0) * x.size(1);
  l.inner = planes == 0 ? 0 : static_cast<int>(x.numel() / planes);
  const int64_t parts = (l.count() + 4095) / 4096;
  l.parts = static_cast<int>(parts < 1 ? 1 : (parts > 64 ? 64 : parts));
  return l;
}

// Calls f(offset, v) for this block's part of channel c, the threads striding through the part,
// in order: offset is that of [n][c][i], v[k] = src[k][offset] for each of the K tensors read.
// (n, i) advance without a division per element. A thread fetches the values of four offsets
// before f runs on any of them: four loads in flight (for each tensor), where fetching inside f
// left the one-block batch-norm passes loading and waiting once per value (their SASS). f runs
// on the values in the same order either way: the same sums.
template <int K, class F>
__device__ void for_part(const ChannelLayout& l, int c, int part, const float* const (&src)[K],
                         const F& f) {
  const int64_t count = l.count(), chunk = (count + l.parts - 1) / l.parts;
  const int64_t begin = part * chunk, end = begin + chunk < count ? begin + chunk : count;
  const int step = blockDim.x;
  int64_t j = begin + threadIdx.x;
  if (j >= end) return;
  ChannelWalk walk(j, step, l.C, c, l.inner);
  for (; j + 3 * step < end; j += 4 * step) {
    int64_t at[4];
    float v[4][K];
    for (int u = 0; u < 4; ++u) {
      at[u] = walk.offset();
      walk.advance();
    }
    for (int u = 0; u < 4; ++u)
      for (int k = 0; k < K; ++k) v[u][k] = src[k][at[u]];
    for (int u = 0; u < 4; ++u) f(at[u], v[u]);
  }
  for (; j < end; j += step, walk.advance()) {
    const int64_t at = walk.offset();
    float v[K];
    for (int k = 0; k < K; ++k) v[k] = src[k][at];
    f(at, v);
  }
}

// The element-wise passes move V floats at a time: 4 (one 16-byte access) when the plane size is
// a multiple of 4 and every tensor is 16-byte aligned, else 1. A FlatWalk over the groups of V
// gives each one's channel without dividing.
template <int V>
struct Floats {
  float v[V];
  __device__ void load(const float* p, int64_t g) {
    if constexpr (V == 4) {
      load_quad(p + 4 * g, v);
    } else {
      v[0] = p[g];
    }
  }
  __device__ void store(float* p, int64_t g) const {
    if constexpr (V == 4)
      store_quad(p + 4 * g, v);
    else
      p[g] = v[0];
  }
};

// Grid-stride loop over the groups of V floats of an [N, C, inner] tensor of `total` floats, with
// each group's channel: f(group, c).
template <int V, class F>
__device__ void for_groups(int64_t total, int C, int inner, const F& f) {
  const int64_t groups = total / V, stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  int64_t g = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (g >= groups) return;
  FlatWalk at(g, stride, C, inner / V);
  for (; g < groups; g += stride, at.advance()) f(g, at.c);
}

// Every pointer (nulls aside) 16-byte aligned: the 4-float passes' condition.
inline bool aligned16(std::initializer_list<const void*> ptrs) {
  for (const void* p : ptrs)
    if (p && !aligned_to(p, 16)) return false;
  return true;
}

inline bool vectorizable(int inner, std::initializer_list<const Tensor*> tensors) {
  if (inner % 4 != 0) return false;
  for (const Tensor* t : tensors)
    if (t && !aligned16({t->raw_data()})) return false;
  return true;
}

// Launches an element-wise pass over x's [N, C, inner] layout, 4 floats at a time when it can.
template <class K4, class K1, class... Args>
void launch_elementwise(K4 kernel4, K1 kernel1, const ChannelLayout& l, int64_t total, bool by4,
                        Args... args) {
  if (by4)
    SIRE_LAUNCH(kernel4, grid_for(total / 4), kBlock, args..., l.C, l.inner, total);
  else
    SIRE_LAUNCH(kernel1, grid_for(total), kBlock, args..., l.C, l.inner, total);
}

}  // namespace sire::cuda
