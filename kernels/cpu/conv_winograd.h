// Winograd F(4x4, 3x3) convolution (float) for 3x3 "same" convolutions with enough channels:
// 36 multiplications for a 4x4 output tile and channel pair where the direct kernels do 144
// (kernels/common/winograd.h has the transforms). Forward and, with stride 1, the input gradient
// (a forward of the flipped kernel), so both a convolution's forward and backward-data pass and
// a transposed convolution's.
//
// The work, for a block of samples at a time:
//  1. the weights' transform U[point][c][k], once a call;
//  2. each sample laid out as [row][column][channel] with a zero border, so that 16 channels of
//     one pixel are one vector, and each 6x6 input tile transformed into V[point][tile][c];
//  3. 36 matrix products M[point] = V[point] U[point] ([tiles, C] x [C, K], OpenBLAS, one a
//     thread at a time: the same bits on any number of threads);
//  4. each 4x4 output tile transformed back from M[point][tile][k] and written to NCHW.
// The transforms add and multiply by small constants, so the result differs from the exact sum
// by rounding only, but by more of it: 10-20x the direct kernels' worst error at SIRe-CNN's
// sizes (tests/test_reference.cpp measures both against the f64 path).
//
// Where it pays: its products run on OpenBLAS, slower than the direct kernels' register tiles,
// and its transforms cost in proportion to C + K where the products cost C K; at SIRe-CNN's
// shapes it was 1.3-1.9x faster than the direct kernels with 128 or more channels each side and
// within +-10% with 64 (docs/performance.md). So by default it takes those with 128 or more.
#pragma once

#include "kernels/common/conv_geometry.h"

namespace sire::cpu {

// fits: the kernel can take this geometry (3x3 "same", stride 1, 16 or more channels each
// side); applies: it does, under the current setting.
bool winograd_conv_fits(const ConvGeom& g);
bool winograd_conv_applies(const ConvGeom& g);

// flip: w is the weight of the convolution whose input gradient this is (as in conv_direct.h).
void winograd_conv_forward(const float* x, const float* w, float* y, const ConvGeom& g,
                           bool flip = false);

// The weight gradient (overwrites dw, [K][C][3][3]) of a convolution winograd_conv_applies
// takes: dU[point] = sum over tiles of (A dY A^T)[point] (x) (B^T x B)[point], then G^T dU G.
void winograd_conv_weight_grad(const float* x, const float* dy, float* dw, const ConvGeom& g);

// kAuto (the default): where it fits and both channel counts are 128 or more; kAlways: wherever
// it fits; kOff: never (the direct and implicit-GEMM kernels take these convolutions). The
// environment's SIRE_CPU_WINOGRAD=0 or =1 sets kOff or kAlways at start; tests and benchmarks
// set it to compare.
enum class WinogradUse { kOff, kAuto, kAlways };
WinogradUse winograd_use();
void set_winograd_use(WinogradUse use);

}  // namespace sire::cpu
