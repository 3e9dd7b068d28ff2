// The weight gradient of a 3x3, stride-1, "same" convolution (float, AVX-512) as dot products
// over whole planes: dW[k][c][r][s] = sum over samples and positions of dY[k] times x[c] shifted
// by (r - 1, s - 1). Every SIRe-CNN layer has this shape.
//
// In NCHW a plane is one run of H W floats, and dY's 16-wide vector at position i meets x's at
// i + (r - 1) W + (s - 1): one unaligned load per tap. Rows shifted off the plane are handled by
// copying x with one zero row above and below (not columns: no wasted lanes, no padded dY);
// columns shifted off a row are two fixed lane masks (the row's first column for s = 0, its last
// for s = 2), since a vector never straddles a row boundary unevenly when W divides 16 or 16
// divides W. Masked lanes read nothing, so the loads may point just outside the buffer.
//
// Register tile: 3 output channels x 9 taps of 16-lane partial sums (27 accumulators), fed by 3
// aligned dY loads and 9 x loads: 12 loads per 27 FMAs. The partial sums are reduced once per
// block of samples.
#pragma once

#include "kernels/common/conv_geometry.h"

namespace sire::cpu {

bool plane_weight_grad_applies(const ConvGeom& g);
void plane_conv_weight_grad(const float* x, const float* dy, float* dw, const ConvGeom& g);

}  // namespace sire::cpu
