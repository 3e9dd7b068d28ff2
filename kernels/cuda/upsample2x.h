// Nearest upsampling to exactly twice the size (every SIRe decoder level) with planes of even
// width: one thread per pair of input elements (w, w + 1 of one row), whose 2 x 4 outputs are two
// 16-byte stores, one per output row; its gradient reads them as two 16-byte loads and writes
// the pair as one 8-byte store (pool.cu's general kernels take other sizes, odd widths
// included). The same float operations as those and the CPU: y = v (+ add, v first);
// dx = 0 + (the row's pair added) + (the next row's pair added). Host+device code
// (SIRE_HD): tests/test_pool_emulation.cpp runs each thread's work on the CPU against the CPU
// backend.
#pragma once

#include <cstdint>

#include "kernels/common/host_device.h"
#include "kernels/cuda/vector_access.h"

namespace sire::cuda {

// Input pair j (elements 2j, 2j + 1 of the [planes H][W] input, W even): its row (plane H + h),
// its column w (even) and where its outputs start: output row 2 row, column 2w, 4W floats a
// pair of output rows. In 32 bits: tensors hold fewer than 2^31 elements (require_f32).
struct Pair2x {
  int i;       // the first input element
  int64_t at;  // its first output; 16-byte aligned when the output is
  SIRE_HD static Pair2x of(int64_t j, int W) {
    const int i = 2 * static_cast<int>(j), row = i / W, w = i - row * W;
    return Pair2x{i, static_cast<int64_t>(row) * 4 * W + 2 * w};
  }
};

// y = upsample(x), + add when not null.
struct Upsample2xForward {
  const float* x;
  const float* add;  // may be null
  float* y;
  int W;
  SIRE_HD void run(int64_t j) const {
    const Pair2x p = Pair2x::of(j, W);
    const FloatPair v = load_pair(x + p.i);
    float top[4] = {v.a, v.a, v.b, v.b}, bottom[4] = {v.a, v.a, v.b, v.b};
    if (add) {
      float a[4], b[4];
      load_quad(add + p.at, a);
      load_quad(add + p.at + 2 * W, b);
      for (int k = 0; k < 4; ++k) {
        top[k] += a[k];
        bottom[k] += b[k];
      }
    }
    store_quad_rows(y + p.at, W / 2, top, bottom);  // rows 2W floats apart: W / 2 quads
  }
};

// dx = the sum of each input element's four outputs of dy.
struct Upsample2xBackward {
  const float* dy;
  float* dx;
  int W;
  SIRE_HD void run(int64_t j) const {
    const Pair2x p = Pair2x::of(j, W);
    float a[4], b[4];
    load_quad(dy + p.at, a);
    load_quad(dy + p.at + 2 * W, b);
    float s0 = 0.0f, s1 = 0.0f;
    s0 += a[0] + a[1];
    s0 += b[0] + b[1];
    s1 += a[2] + a[3];
    s1 += b[2] + b[3];
    store_pair(dx + p.i, s0, s1);
  }
};

}  // namespace sire::cuda
