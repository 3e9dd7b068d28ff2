// Winograd F(4x4, 3x3) convolution (float) for 3x3 "same" convolutions with enough channels:
// 36 multiplications for a 4x4 output tile and channel pair where the direct kernels do 144
// (kernels/common/winograd.h has the transforms). Forward and, with stride 1, the input gradient
// (a forward of the flipped kernel), so both a convolution's forward and backward-data pass and
// a transposed convolution's; and the weight gradient, on the transposed transforms.
//
// Forward, for a group of tiles at a time:
//  1. the weights' transform U[point][c][k], once a call, each point's matrix stored as panels
//     of 64 output channels (written past the caches from 8 MiB);
//  2. each sample laid out as [row][column][channel] with a zero border (16 x 16 blocks
//     transposed in registers), so that 16 channels of one pixel are one vector, and each 6x6
//     input tile transformed into V[point][tile][c];
//  3. the 36 products M[point] = V[point] U[point] on a register tile of 6 tiles x 64 output
//     channels (24 accumulators; summed in c's order, so the same bits on any number of threads);
//  4. each 4x4 output tile transformed back from M while it is in L2 and written to NCHW, four
//     tiles side by side at a time where they make rows of 16 pixels (whole cache lines,
//     written past the caches when the output is 4 MiB or more).
// Below 256 input channels one thread takes a group of samples from step 2 to 4 (V and M stay in
// its L2; U, 590 KB with 64 channels each side, is read from L2 or L3); from 256 on, U is 9-38 MB,
// so blocks of samples are transformed by all threads and the products split by tiles and panels
// of U, each panel read once for 24-64 tiles.
//
// Weight gradient: V as above and the output gradient's transform A dY A^T for a group of
// tiles, then dU[point] += (A dY A^T)[point]^T V[point] on the same register tile (rows: output
// channels, summed over the group's tiles, the groups' sums added), and dW = G^T dU G. From 8
// samples on, dU is cut into parts of 64 x 64 channels and the samples into slices, and each
// (part, slice) is one thread's from the layout to its partial dU (nothing passes between
// cores; the partials summed in slice order); with fewer, blocks of samples are transformed by
// all threads and the products split by point.
//
// The transforms add and multiply by small constants, so the result differs from the exact sum
// by rounding only, but by more of it: 10-20x the direct kernels' worst error at SIRe-CNN's
// sizes (tests/test_reference.cpp measures both against the f64 path).
//
// Where it pays: at every SIRe-CNN shape with 64 or more channels on both sides it was 2-2.8x
// faster than the direct kernels in each pass (docs/performance.md), so by default it takes those.
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

// kAuto (the default): where it fits and both channel counts are 64 or more; kAlways: wherever
// it fits; kOff: never (the direct and implicit-GEMM kernels take these convolutions). The
// environment's SIRE_CPU_WINOGRAD=0 or =1 sets kOff or kAlways at start; tests and benchmarks
// set it to compare.
enum class WinogradUse { kOff, kAuto, kAlways };
WinogradUse winograd_use();
void set_winograd_use(WinogradUse use);

}  // namespace sire::cpu
