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

// The input window [start, end) of output coordinate `out`, clipped to the input.
SIRE_HD void pool_window(int64_t out, int64_t k, int64_t stride, int64_t pad, int64_t in,
                         int64_t* start, int64_t* end) {
  int64_t s = out * stride - pad;
  int64_t e = s + k;
  *start = s < 0 ? 0 : s;
  *end = e > in ? in : e;
}

// Nearest-neighbour source of destination coordinate `dst` when `in` is resized to `out`:
// floor(dst * in / out) in exact integer arithmetic (equal to PyTorch's for integer scales).
SIRE_HD int64_t nearest_source(int64_t dst, int64_t in, int64_t out) {
  int64_t s = dst * in / out;
  return s < in - 1 ? s : in - 1;
}

// The outputs [lo, hi) whose pooling window contains input coordinate `in_coord` (before
// clipping): out * stride - pad <= in_coord < out * stride - pad + k. A backward pass that gathers
// (one thread per input element, as on the GPU) visits exactly these instead of scattering.
SIRE_HD void pool_out_range(int64_t in_coord, int64_t k, int64_t stride, int64_t pad, int64_t out,
                            int64_t* lo, int64_t* hi) {
  // out >= ceil((in_coord + pad - k + 1) / stride), out <= floor((in_coord + pad) / stride)
  const int64_t num = in_coord + pad - k + 1;
  int64_t l = num <= 0 ? 0 : (num + stride - 1) / stride;
  int64_t h = (in_coord + pad) / stride + 1;
  if (h > out) h = out;
  if (l > h) l = h;
  *lo = l;
  *hi = h;
}

// The destination coordinates [lo, hi) whose nearest source (nearest_source) is `src`:
// floor(dst * in / out) == src  <=>  dst in [ceil(src out / in), ceil((src + 1) out / in)).
SIRE_HD void nearest_dest_range(int64_t src, int64_t in, int64_t out, int64_t* lo, int64_t* hi) {
  *lo = (src * out + in - 1) / in;
  const int64_t h = ((src + 1) * out + in - 1) / in;
  *hi = h < out ? h : out;
}

// Adaptive average pooling's window for output i of `out` over an input of `in`:
// [floor(i * in / out), ceil((i + 1) * in / out)).
SIRE_HD int64_t adaptive_start(int64_t i, int64_t in, int64_t out) { return i * in / out; }
SIRE_HD int64_t adaptive_end(int64_t i, int64_t in, int64_t out) {
  return ((i + 1) * in + out - 1) / out;
}

// The outputs [lo, hi) of adaptive pooling whose window contains input coordinate `in_coord`:
// start(i) <= in_coord  <=>  i < ceil((in_coord + 1) out / in), and
// end(i) > in_coord     <=>  i >= floor(in_coord out / in).
SIRE_HD void adaptive_out_range(int64_t in_coord, int64_t in, int64_t out, int64_t* lo,
                                int64_t* hi) {
  *lo = in_coord * out / in;
  const int64_t h = ((in_coord + 1) * out + in - 1) / in;
  *hi = h < out ? h : out;
}

}  // namespace sire
