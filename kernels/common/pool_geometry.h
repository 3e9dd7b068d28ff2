// Index math of pooling, nearest upsampling and adaptive average pooling, for both backends.
#pragma once

#include <cstdint>

#include "kernels/common/host_device.h"

namespace sire {

struct PoolGeom {
  int64_t N = 0, C = 0, H = 0, W = 0;
  int64_t kh = 2, kw = 2, sh = 2, sw = 2, ph = 0, pw = 0;
  int64_t P = 0, Q = 0;
};

// PyTorch's rule: with ceil_mode the last window may start in the padding only if it starts
// inside the input or the left padding.
SIRE_HD int64_t pool_out_size(int64_t in, int64_t k, int64_t stride, int64_t pad, bool ceil_mode) {
  int64_t span = in + 2 * pad - k;
  int64_t out = (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  return out;
}

// The functions below are templates over the integer type so that GPU kernels can run them in
// 32-bit arithmetic (64-bit division is several times slower there); the CPU uses int64_t.

// The input window [start, end) of output coordinate `out`, clipped to the input.
template <class I>
SIRE_HD void pool_window(I out, I k, I stride, I pad, I in, I* start, I* end) {
  I s = out * stride - pad;
  I e = s + k;
  *start = s < 0 ? 0 : s;
  *end = e > in ? in : e;
}

// Nearest-neighbour source of destination coordinate `dst` when `in` is resized to `out`:
// floor(dst * in / out) in exact integer arithmetic (equal to PyTorch's for integer scales).
template <class I>
SIRE_HD I nearest_source(I dst, I in, I out) {
  I s = dst * in / out;
  return s < in - 1 ? s : in - 1;
}

// The outputs [lo, hi) whose pooling window contains input coordinate `in_coord` (before
// clipping): out * stride - pad <= in_coord < out * stride - pad + k. A backward pass that gathers
// (one thread per input element, as on the GPU) visits exactly these instead of scattering.
template <class I>
SIRE_HD void pool_out_range(I in_coord, I k, I stride, I pad, I out, I* lo, I* hi) {
  // out >= ceil((in_coord + pad - k + 1) / stride), out <= floor((in_coord + pad) / stride)
  const I num = in_coord + pad - k + 1;
  I l = num <= 0 ? 0 : (num + stride - 1) / stride;
  I h = (in_coord + pad) / stride + 1;
  if (h > out) h = out;
  if (l > h) l = h;
  *lo = l;
  *hi = h;
}

// The destination coordinates [lo, hi) whose nearest source (nearest_source) is `src`:
// floor(dst * in / out) == src  <=>  dst in [ceil(src out / in), ceil((src + 1) out / in)).
template <class I>
SIRE_HD void nearest_dest_range(I src, I in, I out, I* lo, I* hi) {
  *lo = (src * out + in - 1) / in;
  const I h = ((src + 1) * out + in - 1) / in;
  *hi = h < out ? h : out;
}

// Adaptive average pooling's window for output i of `out` over an input of `in`:
// [floor(i * in / out), ceil((i + 1) * in / out)).
template <class I>
SIRE_HD I adaptive_start(I i, I in, I out) {
  return i * in / out;
}
template <class I>
SIRE_HD I adaptive_end(I i, I in, I out) {
  return ((i + 1) * in + out - 1) / out;
}

// The outputs [lo, hi) of adaptive pooling whose window contains input coordinate `in_coord`:
// start(i) <= in_coord  <=>  i < ceil((in_coord + 1) out / in), and
// end(i) > in_coord     <=>  i >= floor(in_coord out / in).
template <class I>
SIRE_HD void adaptive_out_range(I in_coord, I in, I out, I* lo, I* hi) {
  *lo = in_coord * out / in;
  const I h = ((in_coord + 1) * out + in - 1) / in;
  *hi = h < out ? h : out;
}

}  // namespace sire
