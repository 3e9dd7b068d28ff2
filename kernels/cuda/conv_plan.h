// How a convolution's implicit GEMM is cut into thread blocks: the block tile, and how many
// blocks share one output tile by splitting the reduction (split-K). Plain C++, so it is tested
// on any machine (tests/test_conv_plan.cpp). See docs/cuda.md.
#pragma once

#include <cstdint>
#include <type_traits>

namespace sire::cuda {

// Reduction steps are 8 deep (one TF32 mma k-step); four tile shapes are compiled.
constexpr int kConvBK = 8;
enum class ConvTile { k128x128, k64x256, k64x128, k64x64 };

constexpr ConvTile kConvTiles[] = {ConvTile::k128x128, ConvTile::k64x256, ConvTile::k64x128,
                                   ConvTile::k64x64};

inline int tile_rows(ConvTile t) { return t == ConvTile::k128x128 ? 128 : 64; }
inline int tile_cols(ConvTile t) {
  return t == ConvTile::k64x256 ? 256 : t == ConvTile::k64x64 ? 64 : 128;
}

// Calls f(std::integral_constant<int, BM>{}, std::integral_constant<int, BN>{}) with t's rows and
// columns as compile-time constants: the one place a tile becomes template arguments (the
// launcher's and the CPU emulation's).
template <class F>
void with_tile_shape(ConvTile t, F&& f) {
  using std::integral_constant;
  switch (t) {
    case ConvTile::k128x128:
      return f(integral_constant<int, 128>{}, integral_constant<int, 128>{});
    case ConvTile::k64x256:
      return f(integral_constant<int, 64>{}, integral_constant<int, 256>{});
    case ConvTile::k64x128:
      return f(integral_constant<int, 64>{}, integral_constant<int, 128>{});
    case ConvTile::k64x64:
      return f(integral_constant<int, 64>{}, integral_constant<int, 64>{});
  }
}

struct ConvPlan {
  ConvTile tile = ConvTile::k128x128;
  int64_t row_blocks = 0, col_blocks = 0;  // the grid over the [M, Ncols] output
  int ktiles = 0;                          // reduction steps in all
  int splits = 1;                          // blocks along the reduction, each `per_split` steps
  int per_split = 0;
  int batches = 1;                                   // GEMMs of a batched problem, each split alike
  int z_blocks() const { return splits * batches; }  // blockIdx.z: batch x splits + split
  int64_t workspace_floats() const {
    return splits > 1 ? int64_t{splits} * batches * rows * cols : 0;
  }
  int64_t rows = 0, cols = 0;
};

// Which tiles the plan may use.
//   kLarge (the default): the largest tile that is not mostly empty, the device filled by
//     split-K alone: 128x128; with at most 64 rows 64x256 (64x128 where that leaves far fewer
//     columns empty: wide_tile_fits); 64x64 when there are at most 64 columns. The 128x128 and
//     64x256 tiles give each thread 64 outputs (8x8, 4x16): the fewest instructions per FMA, and
//     the kernels are issue-bound (docs/cuda.md).
//   kFill: the first plan: a grid of large tiles that does not fill the device switches to 64x64
//     tiles before splitting. Measured on an H100 at the SIRe-CNN shapes: 20% (FP32) and 28%
//     (TF32) more time in sum than kLarge.
// Both are correct for every shape (not the same bits: the splits differ).
enum class ConvTiles { kLarge, kFill };

// The 64x256 tile, for at most 64 rows, unless its last column block leaves more than 1/8 more
// of the columns empty than 64x128 tiles would (it takes 9-13% fewer instructions per FMA than
// 64x128 in the SASS, scripts/conv-sass): 576 columns (a 64-channel layer's weight gradient)
// would be 768 in 64x256 tiles, 640 in 64x128 ones.
inline bool wide_tile_fits(int64_t Ncols) {
  return (Ncols + 255) / 256 * 256 * 8 <= (Ncols + 127) / 128 * 128 * 9;
}

// M rows (output channels, or input channels for backward-data), Ncols columns (pixels, or
// filter taps for backward-weight), ktiles reduction steps, on a device of sm_count processors.
// If the grid has fewer than two blocks per processor, the reduction is split across up to 2
// blocks per processor (256 splits at most, each at least 16 steps long); a second kernel adds
// the partial sums (64 MiB at most) in a fixed order. `batches` GEMMs of that size (a batched
// problem: Winograd's 36 points) count together: they fill the device side by side, and are
// split alike only if all of them together leave it under-filled.
inline ConvPlan plan_conv(int64_t M, int64_t Ncols, int ktiles, int sm_count,
                          ConvTiles tiles = ConvTiles::kLarge, int batches = 1) {
  ConvPlan p;
  p.rows = M;
  p.cols = Ncols;
  p.ktiles = ktiles;
  p.batches = batches < 1 ? 1 : batches;
  auto blocks = [&](ConvTile t) {
    return ((M + tile_rows(t) - 1) / tile_rows(t)) * ((Ncols + tile_cols(t) - 1) / tile_cols(t)) *
           p.batches;
  };
  p.tile = M > 64                  ? ConvTile::k128x128
           : wide_tile_fits(Ncols) ? ConvTile::k64x256
                                   : ConvTile::k64x128;
  if (Ncols <= 64) p.tile = ConvTile::k64x64;  // no 128x64 tile is compiled
  if (tiles == ConvTiles::kFill && blocks(p.tile) < sm_count) p.tile = ConvTile::k64x64;
  p.row_blocks = (M + tile_rows(p.tile) - 1) / tile_rows(p.tile);
  p.col_blocks = (Ncols + tile_cols(p.tile) - 1) / tile_cols(p.tile);
  const int64_t grid = p.row_blocks * p.col_blocks * p.batches;
  int64_t splits = 1;
  if (grid < 2 * int64_t{sm_count}) {
    splits = (2 * int64_t{sm_count} + grid - 1) / grid;
    const int64_t by_depth = ktiles / 16;
    if (splits > by_depth) splits = by_depth;
    const int64_t by_memory = (int64_t{16} << 20) / (M * Ncols > 0 ? M * Ncols * p.batches : 1);
    if (splits > by_memory) splits = by_memory;
    if (splits > 256) splits = 256;
    if (splits < 1) splits = 1;
  }
  p.per_split = static_cast<int>((ktiles + splits - 1) / splits);
  if (p.per_split < 1) p.per_split = 1;
  p.splits = static_cast<int>((ktiles + p.per_split - 1) / p.per_split);  // none left empty
  if (p.splits < 1) p.splits = 1;
  return p;
}

}  // namespace sire::cuda
