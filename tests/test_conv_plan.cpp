// The CUDA convolution's work split (kernels/cuda/conv_plan.h): every reduction step belongs to
// exactly one split, no split is empty, the grid covers the output, the workspace is bounded.
#include <catch2/catch.hpp>

#include "bench/sire_shapes.h"
#include "kernels/cuda/conv_plan.h"

using namespace sire::cuda;

namespace {
void check_plan(int64_t M, int64_t N, int ktiles, int sms, ConvTiles tiles) {
  const ConvPlan p = plan_conv(M, N, ktiles, sms, tiles);
  INFO("M " << M << " N " << N << " ktiles " << ktiles << " sms " << sms << " -> tile "
            << tile_rows(p.tile) << "x" << tile_cols(p.tile) << " splits " << p.splits << " x "
            << p.per_split);
  CHECK(p.row_blocks * tile_rows(p.tile) >= M);
  CHECK((p.row_blocks - 1) * tile_rows(p.tile) < M);
  CHECK(p.col_blocks * tile_cols(p.tile) >= N);
  CHECK((p.col_blocks - 1) * tile_cols(p.tile) < N);
  CHECK(p.splits >= 1);
  CHECK(p.splits <= 256);
  CHECK(int64_t{p.splits} * p.per_split >= ktiles);                  // all steps covered
  CHECK(int64_t{p.splits - 1} * p.per_split < std::max(ktiles, 1));  // the last split is not empty
  CHECK(p.workspace_floats() <= (int64_t{16} << 20));
  if (M <= 64) CHECK(tile_rows(p.tile) == 64);
  if (tiles == ConvTiles::kLarge) {
    CHECK((p.tile == ConvTile::k64x64) == (N <= 64));
    CHECK((p.tile == ConvTile::k64x256) == (M <= 64 && N > 128 && wide_tile_fits(N)));
  }
}
}  // namespace

TEST_CASE("conv plans cover the output and the reduction exactly once", "[conv_plan]") {
  for (int sms : {1, 108, 132})
    for (int64_t M : {1, 3, 64, 65, 130, 512})
      for (int64_t N : {1, 27, 64, 576, 4096, 65536})
        for (int ktiles : {1, 2, 15, 16, 17, 100, 576, 8192})
          for (ConvTiles tiles : {ConvTiles::kLarge, ConvTiles::kFill})
            check_plan(M, N, ktiles, sms, tiles);
}

TEST_CASE("64x256 tiles only where they leave few columns empty", "[conv_plan]") {
  CHECK(wide_tile_fits(65536));  // 64 channels at 32x32, batch 64
  CHECK(wide_tile_fits(1152));   // 1280 of 1152 columns against 1152
  CHECK(!wide_tile_fits(576));   // 768 against 640
  CHECK(wide_tile_fits(129));    // 256 either way
  CHECK(!wide_tile_fits(300));   // 512 against 384
  CHECK(plan_conv(64, 65536, 72, 132).tile == ConvTile::k64x256);
  CHECK(plan_conv(64, 576, 8192, 132).tile == ConvTile::k64x128);
  CHECK(plan_conv(64, 100, 72, 132).tile == ConvTile::k64x128);
  CHECK(plan_conv(65, 65536, 72, 132).tile == ConvTile::k128x128);
}

TEST_CASE("SIRe-CNN layers at batch 64 get plans that fill an H100", "[conv_plan]") {
  using namespace sire::bench;
  for (const ConvShape& s : encoder_shapes()) {
    const int64_t npq = kBatch * s.hw * s.hw;
    // forward: M = out channels, columns = pixels, reduction = 9 taps x ceil(C / 8)
    const ConvPlan f = plan_conv(s.out, npq, 9 * static_cast<int>((s.in + 7) / 8), 132);
    // backward-weight: M = out channels, columns = C 9, reduction = pixels / 8
    const ConvPlan w = plan_conv(s.out, s.in * 9, static_cast<int>(npq / 8), 132);
    INFO(s.name);
    CHECK(f.row_blocks * f.col_blocks * f.splits >= 132);
    CHECK(w.row_blocks * w.col_blocks * w.splits >= 132);
  }
}

// A batched problem (Winograd's 36 products): its GEMMs count together, one z block each (times
// the splits), and are split only when all of them together leave the device under-filled.
// Every step of every GEMM still belongs to exactly one split.
TEST_CASE("batched GEMMs are split only when all of them under-fill the device", "[conv_plan]") {
  for (int64_t M : {16, 64, 130, 512})
    for (int64_t N : {1, 64, 256, 4096})
      for (int ktiles : {1, 8, 64, 512})
        for (ConvTiles tiles : {ConvTiles::kLarge, ConvTiles::kFill}) {
          const ConvPlan p = plan_conv(M, N, ktiles, 132, tiles, 36);
          INFO("M " << M << " N " << N << " ktiles " << ktiles << " -> splits " << p.splits);
          CHECK(p.batches == 36);
          CHECK(p.z_blocks() == 36 * p.splits);
          CHECK(int64_t{p.splits} * p.per_split >= ktiles);
          CHECK(int64_t{p.splits - 1} * p.per_split < ktiles);
          CHECK(p.workspace_floats() <= (int64_t{16} << 20));
          if (p.row_blocks * p.col_blocks * 36 >= 2 * 132) CHECK(p.splits == 1);
        }
  using namespace sire::bench;
  for (const ConvShape& s : encoder_shapes()) {
    const int64_t tiles = kBatch * ((s.hw + 3) / 4) * ((s.hw + 3) / 4);
    const ConvPlan p =
        plan_conv(s.out, tiles, static_cast<int>((s.in + 7) / 8), 132, ConvTiles::kLarge, 36);
    INFO(s.name);
    CHECK(p.row_blocks * p.col_blocks * p.z_blocks() >= 132);
  }
  // 512 channels at 4x4: one GEMM alone is split, the 36 together fill the device unsplit.
  CHECK(plan_conv(512, 64, 64, 132).splits > 1);
  CHECK(plan_conv(512, 64, 64, 132, ConvTiles::kLarge, 36).splits == 1);
}
