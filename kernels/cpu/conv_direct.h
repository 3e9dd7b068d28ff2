// Direct convolution for stride-1 layers on large planes (float, AVX-512), without im2col.
//
// Each sample's planes are copied once into a zero-padded layout of row length Wp = W + 2 pw
// (planes of Hp x Wp, one after the other). In that layout the input pixel a tap (r, s) reads for
// output position pos = p Wp + q is simply x[pos + r Wp + s]: every tap is a shifted contiguous
// vector, so
//  - forward: an 8-channel x 32-position register tile accumulates, for every (c, r, s), one
//    broadcast weight times a shifted 32-wide row of the padded input (the GEMM micro-kernel's
//    shape with the "packed B panel" read in place);
//  - weight gradient: dW[k][c][r][s] is a dot product of dY's padded plane with the input's plane
//    shifted by (r, s): two output channels x nine taps of 16-wide partial sums.
// Positions with q >= Q are computed and thrown away (Wp / Q extra work: 6% at 32 wide), which
// is why small planes keep the implicit-GEMM path (see direct_conv_applies).
// A 3x3 "same" convolution with W a multiple of 16 reads, instead of padded planes, three copies
// of each plane shifted by -1, 0, +1 columns with a zero row above and below (shifted_copies in
// conv_tile.h): every tap an aligned load, no position thrown away. The weight gradient of those
// is conv_wgrad.h's; the padded-plane one here serves the other widths from 24 on.
#pragma once

#include "kernels/common/conv_geometry.h"

namespace sire::cpu {

// Whether these kernels handle a convolution of this geometry (forward and backward-data, which
// with stride 1 is a forward of the flipped kernel); weight gradients also need a 3x3 kernel.
bool direct_conv_applies(const ConvGeom& g);
bool direct_weight_grad_applies(const ConvGeom& g);

// flip: w is the weight of the convolution whose input gradient this is (see pack_weights).
void direct_conv_forward(const float* x, const float* w, float* y, const ConvGeom& g,
                         bool flip = false);
void direct_conv_weight_grad(const float* x, const float* dy, float* dw, const ConvGeom& g);

}  // namespace sire::cpu
