// Max pooling with 2x2 windows at stride 2 and no padding over planes of even height and width,
// the pooling of every SIRe encoder and of VGG: each window's four inputs are two pairs, one per
// row, read (forward) and written (backward) as 8-byte pairs. One thread per output, where the
// general kernels of pool.cu run a window loop per output (forward) and gather per input element
// (backward: the index, the gradient and several divisions for each of the four). The same
// results, bit for bit: the first maximum wins and a NaN wins over any number, the index is the
// plane position (pool.cu, the CPU); each input's gradient is 0 + dy at the window's maximum and
// 0 elsewhere (the CPU's scatter into zeros). Host+device code (SIRE_HD):
// tests/test_pool_emulation.cpp runs each thread's work on the CPU against the CPU backend.
#pragma once

#include <cstdint>

#include "kernels/common/host_device.h"
#include "kernels/common/pool_geometry.h"
#include "kernels/cuda/vector_access.h"

namespace sire::cuda {

// Whether the 2x2 kernels take pooling g: 2x2 windows, stride 2, no padding, the input planes
// exactly twice the output's size (so that each window's row pair is 8-byte aligned when the
// tensors are); and planes whose element count fits 32 bits (the indices are int32).
inline bool pool2x2_takes(const PoolGeom& g) {
  return g.kh == 2 && g.kw == 2 && g.sh == 2 && g.sw == 2 && g.ph == 0 && g.pw == 0 &&
         g.H == 2 * g.P && g.W == 2 * g.Q && g.H * g.W < (int64_t{1} << 31);
}

// Output o of planes P x Q (Q = W / 2): its row of the whole output (plane P + p), p and q, and
// where its window starts in the input: row 2p of the plane, which is input row 2 row (H = 2P).
// In 32-bit arithmetic (tensors hold fewer than 2^31 elements, require_f32): a 64-bit division
// is a subroutine call on the GPU.
struct Window2x2 {
  int64_t top;  // x[top], x[top + 1]; x[top + W], x[top + W + 1]
  int corner;   // the plane position of x[top]: 2p W + 2q
  SIRE_HD static Window2x2 of(int64_t o64, int P, int W) {
    const int o = static_cast<int>(o64), Q = W / 2;
    const int row = o / Q, q = o - row * Q, p = row % P;
    return Window2x2{static_cast<int64_t>(row) * 2 * W + 2 * q, 2 * p * W + 2 * q};
  }
};

// y[o] = the window's maximum, idx[o] its plane position. Candidates in window order (row by
// row), the first maximum kept: the general kernel's loop.
struct MaxPool2x2Forward {
  const float* x;
  float* y;
  int32_t* idx;
  int P, W;
  SIRE_HD void run(int64_t o) const {
    const Window2x2 at = Window2x2::of(o, P, W);
    const FloatPair top = load_pair(x + at.top), bottom = load_pair(x + at.top + W);
    const float v[4] = {top.a, top.b, bottom.a, bottom.b};
    const int offset[4] = {0, 1, W, W + 1};
    int best = 0;
    float m = v[0];
    for (int k = 1; k < 4; ++k)
      if (v[k] > m || (v[k] != v[k] && m == m)) {  // larger, or the first NaN
        m = v[k];
        best = k;
      }
    y[o] = m;
    idx[o] = at.corner + offset[best];
  }
};

// dx over window o: 0 + dy[o] at the input idx[o] names, 0 at the other three.
struct MaxPool2x2Backward {
  const float* dy;
  const int32_t* idx;
  float* dx;
  int P, W;
  SIRE_HD void run(int64_t o) const {
    const Window2x2 at = Window2x2::of(o, P, W);
    const float g = 0.0f + dy[o];
    const int which = idx[o] - at.corner;
    store_pair(dx + at.top, which == 0 ? g : 0.0f, which == 1 ? g : 0.0f);
    store_pair(dx + at.top + W, which == W ? g : 0.0f, which == W + 1 ? g : 0.0f);
  }
};

}  // namespace sire::cuda
