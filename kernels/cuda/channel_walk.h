// Walking one channel of an [N, C, inner] tensor with a stride, without a division per step:
// batch norm's partial sums visit the values j = begin + t, begin + t + stride, ... of channel c
// (j counting the channel's N * inner values in order), and need each one's offset in the
// tensor. Host+device, so that tests/test_index_math.cpp checks it against the divisions.
#pragma once

#include <cstdint>

#include "kernels/common/host_device.h"

namespace sire::cuda {

struct ChannelWalk {
  int n, i;            // the current value is x[n][c][i]
  int step_n, step_i;  // `stride` values further on: n + step_n, i + step_i (then carry)
  int C, c, inner;

  SIRE_HD ChannelWalk(int64_t j, int stride, int C_, int c_, int inner_)
      : C(C_), c(c_), inner(inner_) {
    n = static_cast<int>(j / inner);
    i = static_cast<int>(j - static_cast<int64_t>(n) * inner);
    step_n = stride / inner;
    step_i = stride % inner;
  }
  SIRE_HD int64_t offset() const { return (static_cast<int64_t>(n) * C + c) * inner + i; }
  SIRE_HD void advance() {
    n += step_n;
    i += step_i;
    if (i >= inner) {
      i -= inner;
      ++n;
    }
  }
};

// Walking a whole [N, C, inner] tensor (flat index j) with a stride, knowing each value's channel
// without a division per step: batch norm's element-wise passes visit j = t, t + stride, ... and
// need c = (j / inner) % C for each (two 64-bit divisions a value, more instructions than the
// value's own arithmetic).
struct FlatWalk {
  int c, i;            // the current value is in channel c, at position i of its plane
  int step_c, step_i;  // `stride` values further on: c + step_c, i + step_i (then carry)
  int C, inner;

  SIRE_HD FlatWalk(int64_t j, int64_t stride, int C_, int inner_) : C(C_), inner(inner_) {
    const int64_t plane = j / inner;
    i = static_cast<int>(j - plane * inner);
    c = static_cast<int>(plane % C);
    step_c = static_cast<int>((stride / inner) % C);
    step_i = static_cast<int>(stride % inner);
  }
  SIRE_HD void advance() {
    i += step_i;
    c += step_c;
    if (i >= inner) {
      i -= inner;
      ++c;
    }
    if (c >= C) c -= C;  // c < 2 C: step_c < C
  }
};

}  // namespace sire::cuda
