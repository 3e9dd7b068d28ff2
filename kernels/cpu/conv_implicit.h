// Implicit-GEMM convolution (float, AVX-512) for what the direct kernels leave: small planes
// (8x8 and 4x4 in SIRe-CNN's deep blocks), strides, 1x1 convolutions.
//
// The output is a GEMM of the weights [K, C R S] and the im2col matrix [C R S, N P Q], but the
// im2col matrix is never built: each 32-column panel of it (any 32 output positions of the batch)
// is gathered from the image into a buffer that stays in L2 (C R S x 32 floats), and every
// 8-channel block of the weights then runs the shared 8 x 32 register tile over it. The gathers
// are amortized over the K / 8 weight blocks that reuse the panel; at stride 1, lanes whose
// sources are consecutive (an output row, or whole planes of a same-size convolution) are read
// with masked loads instead, a few per 16 lanes.
#pragma once

#include "kernels/common/conv_geometry.h"

namespace sire::cpu {

bool implicit_conv_applies(const ConvGeom& g);
void implicit_conv_forward(const float* x, const float* w, float* y, const ConvGeom& g,
                           bool flip = false);

// The weight gradient the same way: dW [K, C R S] = dY [K, N P Q] . im2col^T, the reduction
// running over every position of the batch in registers. dY is repacked once as [position][8
// channels] per block of 8 output channels; each 32-column panel of im2col^T (32 (c, r, s)
// taps at every position) is gathered into a thread's buffer.
bool implicit_weight_grad_applies(const ConvGeom& g);
void implicit_conv_weight_grad(const float* x, const float* dy, float* dw, const ConvGeom& g);

}  // namespace sire::cpu
