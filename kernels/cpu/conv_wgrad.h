// The weight gradient of a 3x3, stride-1, "same" convolution (float, AVX-512) as dot products
// over whole planes: dW[k][c][r][s] = sum over samples and positions of dY[k] times x[c] shifted
// by (r - 1, s - 1). Every SIRe-CNN layer has this shape; these kernels take W = 16, 32, ...
//
// In NCHW a plane is one run of H W floats, and dY's 16-wide vector at position i meets x at
// i + (r - 1) W + (s - 1). x is copied three times, shifted by -1, 0 and +1 columns (zeros
// shifted in at the row ends) and with a zero row above and below: then tap (r, s) is the copy
// for s at offset i + r W, an aligned load, and no lane is spent on padding. dY is read in place.
// (Reading x unaligned with lane masks instead was 17% slower: the loads that split cache
// lines, 6 of 9, cost more than the masks.)
//
// Register tile: 3 output channels x 9 taps of 16-lane partial sums (27 accumulators), fed by 3
// dY loads and 9 x loads: 12 loads per 27 FMAs. The partial sums are reduced once per block of
// samples, blocks added in order. Each thread makes the copies of a group of input channels in
// its own buffer, within L2, and runs every k-block on them (conv_wgrad.cpp says why).
#pragma once

#include "kernels/common/conv_geometry.h"

namespace sire::cpu {

bool plane_weight_grad_applies(const ConvGeom& g);
void plane_conv_weight_grad(const float* x, const float* dy, float* dw, const ConvGeom& g);

}  // namespace sire::cpu
