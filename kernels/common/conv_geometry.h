// Index math of convolution, written once for both backends.
//
// A transposed convolution is described by the convolution it is the transpose of: its output
// is that convolution's input (N, C, H, W) and its input is that convolution's output (N, K, P, Q).
// Its weight [Cin_T, Cout_T, R, S] is then exactly the convolution weight [K, C, R, S].
#pragma once

#include <cstdint>

#include "kernels/common/host_device.h"

namespace sire {

struct ConvGeom {
  int64_t N = 0, C = 0, H = 0, W = 0;  // convolution input
  int64_t K = 0, R = 0, S = 0;         // output channels, kernel height and width
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0;
  int64_t P = 0, Q = 0;  // convolution output height and width

  SIRE_HD int64_t crs() const { return C * R * S; }  // rows of the im2col matrix
  SIRE_HD int64_t pq() const { return P * Q; }
  SIRE_HD int64_t hw() const { return H * W; }
  // Multiply-accumulates of one forward pass (a transposed conv does the same number).
  SIRE_HD int64_t macs() const { return N * K * P * Q * C * R * S; }
};

SIRE_HD int64_t conv_out_size(int64_t in, int64_t k, int64_t stride, int64_t pad) {
  return (in + 2 * pad - k) / stride + 1;
}

SIRE_HD int64_t conv_transpose_out_size(int64_t in, int64_t k, int64_t stride, int64_t pad,
                                        int64_t out_pad) {
  return (in - 1) * stride - 2 * pad + k + out_pad;
}

// The input coordinate that kernel tap `tap` reads for output coordinate `out`; it may fall in
// the zero padding (outside [0, in)).
SIRE_HD int64_t conv_in_coord(int64_t out, int64_t tap, int64_t stride, int64_t pad) {
  return out * stride - pad + tap;
}

// The inverse of conv_in_coord: the output coordinate whose tap `tap` reads input coordinate
// `in`, if there is one (with stride > 1 most taps of an input pixel read no output). This is
// what a gathering backward-data pass (one thread per input pixel, as on the GPU) iterates on.
// A template so that GPU kernels can run it in 32-bit arithmetic.
template <class I>
SIRE_HD bool conv_out_coord(I in, I tap, I stride, I pad, I out, I* o) {
  const I t = in + pad - tap;
  if (t < 0 || t % stride != 0) return false;
  *o = t / stride;
  return *o < out;
}

// The range [lo, hi) of output coordinates whose tap `tap` reads a real (unpadded) input
// coordinate; lets im2col fill the padding with zeros and copy the rest without per-element tests.
SIRE_HD void conv_valid_out_range(int64_t tap, int64_t stride, int64_t pad, int64_t in, int64_t out,
                                  int64_t* lo, int64_t* hi) {
  // out * stride - pad + tap >= 0  <=>  out >= ceil((pad - tap) / stride)
  int64_t num = pad - tap;
  int64_t l = num <= 0 ? 0 : (num + stride - 1) / stride;
  // out * stride - pad + tap <= in - 1  <=>  out <= floor((in - 1 + pad - tap) / stride)
  int64_t top = in - 1 + pad - tap;
  int64_t h = top < 0 ? 0 : top / stride + 1;
  if (h > out) h = out;
  if (l > h) l = h;
  *lo = l;
  *hi = h;
}

}  // namespace sire
