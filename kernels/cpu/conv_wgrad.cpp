#include "kernels/cpu/conv_wgrad.h"

#include <algorithm>

#include "engine/error.h"
#include "kernels/cpu/conv_tile.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/parallel.h"

namespace sire::cpu {

bool plane_weight_grad_applies(const ConvGeom& g) {
#if defined(__AVX512F__)
  return shifted_layout_applies(g);
#else
  return false;
#endif
}

#if defined(__AVX512F__)
namespace {

constexpr int kKb = 3;  // output channels per tile
// A group of items' dY planes and copies of x: half of L2 (250 KB was 2-5% slower, 550 the same
// as 400 at the 32x32 and 16x16 weight gradients; 1 x 1 groups, the old order, 5% slower).
constexpr int64_t kGroupBytes = int64_t{400} << 10;

// One 16-position step: acc[i][3 r + s] += dY_i . (x shifted by (r - 1, s - 1)).
// xs[s] points at the vector's position in the copy of x shifted by s - 1 columns; rows r = 0,
// 1, 2 lie W apart. Every load is aligned.
template <int KB>
__attribute__((always_inline)) inline void tap_step(__m512 (&acc)[KB][9], const float* d,
                                                    int64_t dk, const float* const (&xs)[3],
                                                    int64_t W) {
  __m512 a[KB];
#pragma GCC unroll 3
  for (int i = 0; i < KB; ++i) a[i] = _mm512_loadu_ps(d + i * dk);  // aligned in practice
#pragma GCC unroll 3
  for (int r = 0; r < 3; ++r)
#pragma GCC unroll 3
    for (int s = 0; s < 3; ++s) {
      const __m512 b = in_register(_mm512_load_ps(xs[s] + r * W));
#pragma GCC unroll 3
      for (int i = 0; i < KB; ++i) acc[i][3 * r + s] = _mm512_fmadd_ps(a[i], b, acc[i][3 * r + s]);
    }
}

// dW[k0 + i][c][taps] += the dot products over `count` samples, for i < KB.
// dy: the first sample's channel-k0 plane; x: the first sample's three shifted
// copies of channel c, `lp` floats apart.
template <int KB>
void plane_item(const float* dy, int64_t dy_sample, int64_t pq, const float* x,
                int64_t x_sample, int64_t lp, int64_t W, int64_t count, float* dw, int64_t dw_k) {
  // Every loop over the accumulators fully unrolled: an indexed access anywhere would keep the
  // array in memory, and GCC then stores all 27 of them at every step.
  __m512 acc[KB][9];
#pragma GCC unroll 3
  for (int i = 0; i < KB; ++i)
#pragma GCC unroll 9
    for (int t = 0; t < 9; ++t) acc[i][t] = _mm512_setzero_ps();
  for (int64_t n = 0; n < count; ++n) {
    const float* d = dy + n * dy_sample;
    const float* xn = x + n * x_sample;
    for (int64_t v = 0; v < pq; v += 16) {
      const float* const xs[3] = {xn + v, xn + lp + v, xn + 2 * lp + v};
      tap_step<KB>(acc, d + v, pq, xs, W);
    }
  }
#pragma GCC unroll 3
  for (int i = 0; i < KB; ++i)
#pragma GCC unroll 9
    for (int t = 0; t < 9; ++t) dw[i * dw_k + t] += tree_sum(acc[i][t]);
}

}  // namespace

void plane_conv_weight_grad(const float* x, const float* dy, float* dw, const ConvGeom& g) {
  SIRE_CHECK(plane_weight_grad_applies(g), "plane_conv_weight_grad: unsupported geometry ",
             g.H, "x", g.W, " kernel ", g.R, "x", g.S);
  const int64_t pq = g.pq(), lp = (g.H + 2) * g.W;  // lp: a padded plane, a multiple of 16
  // Samples per block: a tile's 3 dY planes and one channel's shifted copies over the block
  // stay within ~400 KB, half of L2, so the items that share the dY planes (every input
  // channel) find them there; and the block's copies of x (every channel) within ~6 MB, well
  // inside L3, since every k-block reads them all again.
  const int64_t per_sample = (kKb * pq + 3 * lp) * static_cast<int64_t>(sizeof(float));
  const int64_t copies = g.C * 3 * lp * static_cast<int64_t>(sizeof(float));
  const int64_t block = std::clamp<int64_t>(
      std::min((int64_t{400} << 10) / per_sample, (int64_t{6} << 20) / copies), 1, g.N);
  const int64_t kblocks = (g.K + kKb - 1) / kKb;
  float* xp = static_cast<float*>(
      workspace(0, static_cast<size_t>(block * g.C * 3 * lp) * sizeof(float)));
  std::fill(dw, dw + g.K * g.crs(), 0.0f);
  for (int64_t n0 = 0; n0 < g.N; n0 += block) {
    const int64_t count = std::min(block, g.N - n0);
    parallel_for(0, count * g.C, 4, [&](int64_t lo, int64_t hi) {
      for (int64_t item = lo; item < hi; ++item)
        shifted_copies(x + (n0 * g.C + item) * g.hw(), g.H, g.W, lp, xp + item * 3 * lp);
    });
    // Items (k-block, c) in groups of gk k-blocks x gc channels whose dY planes and copies of
    // x fit in L2 together: each item reads its operands from there, and L3 (shared with the
    // other core) is read once per group instead of once per item for one of the two. Each
    // item writes its own dW entries, and blocks of samples are added in order: the result does
    // not depend on the number of threads.
    const int64_t kb_bytes = count * kKb * pq * static_cast<int64_t>(sizeof(float));
    const int64_t c_bytes = count * 3 * lp * static_cast<int64_t>(sizeof(float));
    int64_t gk = 1, gc = 1;
    while ((gk + 1) * kb_bytes + (gc + 1) * c_bytes <= kGroupBytes && (gk < kblocks || gc < g.C)) {
      if (gk < kblocks) ++gk;
      if (gc < g.C) ++gc;
    }
    const int64_t kgroups = (kblocks + gk - 1) / gk, cgroups = (g.C + gc - 1) / gc;
    const int64_t dy_sample = g.K * pq, x_sample = g.C * 3 * lp, dw_k = g.C * 9;
    auto item = [&](int64_t kb, int64_t c) {
      const int64_t k0 = kb * kKb;
      const float* d = dy + (n0 * g.K + k0) * pq;
      const float* xc = xp + c * 3 * lp;
      float* out = dw + (k0 * g.C + c) * 9;
      switch (std::min<int64_t>(kKb, g.K - k0)) {
        case 1: return plane_item<1>(d, dy_sample, pq, xc, x_sample, lp, g.W, count, out, dw_k);
        case 2: return plane_item<2>(d, dy_sample, pq, xc, x_sample, lp, g.W, count, out, dw_k);
        default: return plane_item<3>(d, dy_sample, pq, xc, x_sample, lp, g.W, count, out, dw_k);
      }
    };
    parallel_for(0, kgroups * cgroups, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t grp = lo; grp < hi; ++grp) {
        const int64_t kb0 = grp / cgroups * gk, c0 = grp % cgroups * gc;
        for (int64_t kb = kb0; kb < std::min(kblocks, kb0 + gk); ++kb)
          for (int64_t c = c0; c < std::min(g.C, c0 + gc); ++c) item(kb, c);
      }
    });
  }
}

#else

void plane_conv_weight_grad(const float*, const float*, float*, const ConvGeom&) {
  SIRE_FAIL("plane weight gradient needs AVX-512 (build with SIRE_NATIVE on such a CPU)");
}

#endif

}  // namespace sire::cpu
