// Vector loads and stores of 2 and 4 floats for host+device code (SIRE_HD): one 8- or 16-byte
// access on the GPU, where the pointer must be aligned to its size; plain float accesses on the
// host, where tests run the same functions.
#pragma once

#include "kernels/common/host_device.h"

namespace sire::cuda {

struct FloatPair {
  float a, b;
};
SIRE_HD FloatPair load_pair(const float* p) {
#if defined(__CUDA_ARCH__)
  const float2 v = *reinterpret_cast<const float2*>(p);
  return FloatPair{v.x, v.y};
#else
  return FloatPair{p[0], p[1]};
#endif
}
SIRE_HD void store_pair(float* p, float a, float b) {
#if defined(__CUDA_ARCH__)
  *reinterpret_cast<float2*>(p) = make_float2(a, b);
#else
  p[0] = a;
  p[1] = b;
#endif
}

SIRE_HD void load_quad(const float* p, float* out) {
#if defined(__CUDA_ARCH__)
  const float4 v = *reinterpret_cast<const float4*>(p);
  out[0] = v.x, out[1] = v.y, out[2] = v.z, out[3] = v.w;
#else
  for (int i = 0; i < 4; ++i) out[i] = p[i];
#endif
}
SIRE_HD void store_quad(float* p, const float* v) {
#if defined(__CUDA_ARCH__)
  *reinterpret_cast<float4*>(p) = make_float4(v[0], v[1], v[2], v[3]);
#else
  for (int i = 0; i < 4; ++i) p[i] = v[i];
#endif
}

// v at p and w at p + 4 quads (the same columns a row further on), two 16-byte stores. Through
// one float4 pointer: nvcc (13.0) split the second of two store_quad calls into four 4-byte
// stores in the PTX, as it did with two float2 stores a row apart.
SIRE_HD void store_quad_rows(float* p, int quads, const float* v, const float* w) {
#if defined(__CUDA_ARCH__)
  float4* q = reinterpret_cast<float4*>(p);
  q[0] = make_float4(v[0], v[1], v[2], v[3]);
  q[quads] = make_float4(w[0], w[1], w[2], w[3]);
#else
  store_quad(p, v);
  store_quad(p + 4 * quads, w);
#endif
}

}  // namespace sire::cuda
