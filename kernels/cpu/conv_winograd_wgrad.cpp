// The weight gradient of Winograd F(4x4, 3x3) (kernels/cpu/conv_winograd.h): for a block of
// samples, V = B^T x B and the output gradient's A dY A^T, then dU[point] += (A dY A^T)[point]^T
// V[point] on the forward's register tile, and dW = G^T dU G.
#include "kernels/cpu/conv_winograd.h"

#if defined(__AVX512F__) && defined(__GNUC__) && !defined(__clang__)
// As in conv_winograd.cpp: GCC 12 reports _mm512_undefined_ps's deliberate self-initialization.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <algorithm>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/winograd_parts.h"

namespace sire::cpu {
namespace {

using namespace winograd_parts;

// The products are summed over tiles in runs of this many, the runs' sums added.
constexpr int64_t kSumRun = 64;

// The transformed output gradient A dY A^T of tile t of a laid-out dY (laid out as x is, the
// plane at (1, 1)): point p's kp values at yh + p ypoint.
void transform_output_grad(const float* dyt, const Grid& gr, int64_t t, int64_t ypoint, float* yh) {
  const float* corner = dyt + ((kOut * (t / gr.tw) + 1) * gr.wp + kOut * (t % gr.tw) + 1) * gr.kp;
  for (int64_t k0 = 0; k0 < gr.kp; k0 += kLanes) {
    Lanes d[kOut * kOut], out[kPoints];
    for (int i = 0; i < kOut; ++i)
      for (int j = 0; j < kOut; ++j) d[i * kOut + j] = load(corner + (i * gr.wp + j) * gr.kp + k0);
    winograd::output_grad_tile(d, out);
    for (int p = 0; p < kPoints; ++p) store(yh + p * ypoint + k0, out[p]);
  }
}

}  // namespace

void winograd_conv_weight_grad(const float* x, const float* dy, float* dw, const ConvGeom& g) {
  if (g.N == 0) {
    std::fill(dw, dw + g.K * g.C * 9, 0.0f);
    return;
  }
  const Grid gr(g);
  // dU[p][k][c] (kp x cp a point), summed over the blocks of samples in order. Blocks hold at
  // least as many floats as dU, which is read and written once a block.
  const int64_t dpoint = gr.kp * gr.cp + kSkew, du_floats = kPoints * dpoint;
  float* du = static_cast<float*>(workspace(3, static_cast<size_t>(du_floats) * sizeof(float)));
  const int64_t fit = std::max<int64_t>(
      1, std::max(kBlockFloats, du_floats) / (kPoints * (gr.cp + gr.kp) * gr.tiles));
  const int64_t per_block = samples_per_block(g.N, fit);
  const int64_t block_rows = per_block * gr.tiles;
  float* v = static_cast<float*>(
      workspace(1, static_cast<size_t>(kPoints * (block_rows * gr.cp + kSkew)) * sizeof(float)));
  float* yh = static_cast<float*>(
      workspace(2, static_cast<size_t>(kPoints * (block_rows * gr.kp + kSkew)) * sizeof(float)));
  const int64_t cpanels = (gr.cp + kPanel - 1) / kPanel;
  for (int64_t n0 = 0; n0 < g.N; n0 += per_block) {
    const int64_t count = std::min(per_block, g.N - n0), rows = count * gr.tiles;
    const int64_t vpoint = rows * gr.cp + kSkew, ypoint = rows * gr.kp + kSkew;
    parallel_for(0, count, 1, [&](int64_t lo, int64_t hi) {
      float* t = static_cast<float*>(workspace(
          0, static_cast<size_t>(gr.hp * gr.wp * std::max(gr.cp, gr.kp)) * sizeof(float)));
      for (int64_t j = lo; j < hi; ++j) {
        const int64_t n = n0 + j;
        transform_sample(x + n * g.C * g.hw(), g.C, g, gr, t, vpoint, v + j * gr.tiles * gr.cp);
        lay_out_sample(dy + n * g.K * g.hw(), g.K, gr.kp, g, gr, t);
        for (int64_t i = 0; i < gr.tiles; ++i)
          transform_output_grad(t, gr, i, ypoint, yh + (j * gr.tiles + i) * gr.kp);
      }
    });
    // dU[p] (+)= Yh[p]^T V[p], a job a point and panel of 64 input channels (point-major: a
    // thread's consecutive jobs share Yh[p]); each sums over the block's tiles in order.
    parallel_for(0, kPoints * cpanels, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t job = lo; job < hi; ++job) {
        const int64_t p = job / cpanels, c0 = job % cpanels * kPanel;
        const int nv = static_cast<int>(std::min<int64_t>(kTileVecs, (gr.cp - c0) / kLanes));
        for (int64_t k0 = 0; k0 < g.K; k0 += kTileRows) {
          const int mr = static_cast<int>(std::min<int64_t>(kTileRows, g.K - k0));
          for (int64_t r0 = 0; r0 < rows; r0 += kSumRun)
            kProducts[mr - 1][nv - 1](yh + p * ypoint + r0 * gr.kp + k0, 1, gr.kp,
                                      v + p * vpoint + r0 * gr.cp + c0, gr.cp,
                                      std::min(kSumRun, rows - r0),
                                      du + p * dpoint + k0 * gr.cp + c0, gr.cp, n0 > 0 || r0 > 0);
        }
      }
    });
  }
  // dW[k][c] = G^T dU[.][k][c] G, 16 input channels at a time.
  parallel_for(0, g.K, 4, [&](int64_t lo, int64_t hi) {
    for (int64_t k = lo; k < hi; ++k)
      for (int64_t c0 = 0; c0 < g.C; c0 += kLanes) {
        Lanes d[kPoints], out[9];
        for (int p = 0; p < kPoints; ++p) d[p] = load(du + p * dpoint + k * gr.cp + c0);
        winograd::weight_grad_tile(d, out);
        const int lanes = static_cast<int>(std::min<int64_t>(kLanes, g.C - c0));
        for (int l = 0; l < lanes; ++l)
          for (int tap = 0; tap < 9; ++tap) dw[(k * g.C + c0 + l) * 9 + tap] = out[tap][l];
      }
  });
}

}  // namespace sire::cpu
