#include "kernels/cpu/conv_wgrad.h"

#include <algorithm>
#include <atomic>

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
// Samples per block (their partial sums are reduced once per block); the bytes of one channel
// group's shifted copies over a block, within a core's L2 beside the dY planes (in quiet phases
// 7 samples and 400 KB were as fast as any of 2-16 samples and 300-800 KB); and the fewest
// channel groups per block, where there are channels enough.
constexpr int64_t kBlockSamples = 7;
constexpr int64_t kCopyBytes = int64_t{400} << 10;
constexpr int64_t kMinGroups = 16;

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
// dy: the first sample's channel-k0 plane, the next sample's dy_sample floats on; x: the first
// sample's three shifted copies of channel c, `lp` floats apart, the next sample's x_sample on.
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
  const int64_t kblocks = (g.K + kKb - 1) / kKb;
  // Work in groups of gc input channels over a block of samples: a thread makes the group's
  // shifted copies of x in its own buffer (within kCopyBytes, so they stay in its L2), then runs
  // every k-block's items on them, c fastest, so that each k-block's dY planes (3 per sample)
  // are read from L3 once per group and then found in L2. x is read once and its copies, three
  // times its size, never leave L2; dY is read C / gc times. (Copies of every channel of a block
  // made once and kept in L3 for all k-blocks ran at 130 instead of 205 GFLOP/s whenever the
  // machine's neighbour loaded L3 and memory, a third of the time in the copies.)
  const int64_t plane_bytes = 3 * lp * static_cast<int64_t>(sizeof(float));
  int64_t block = std::clamp<int64_t>(kBlockSamples, 1, g.N);
  const bool one_buffer = g.C * block * plane_bytes <= kCopyBytes;  // every channel in one buffer
  if (one_buffer) block = std::clamp<int64_t>(kCopyBytes / (g.C * plane_bytes), block, g.N);
  // At least kMinGroups groups per block where there are channels enough: a thread that the
  // neighbour slows must not hold up the other at every block's end.
  const int64_t gc = one_buffer ? g.C
                                : std::clamp<int64_t>(std::min(kCopyBytes / (block * plane_bytes),
                                                               g.C / kMinGroups),
                                                      1, g.C);
  const int64_t cgroups = (g.C + gc - 1) / gc;
  const int64_t dy_sample = g.K * pq, dw_k = g.C * 9;
  // xp[(ci count + n) 3 lp]: channel c0 + ci of sample n0 + n, for ci < cn and n < count.
  auto make_copies = [&](int64_t n0, int64_t count, int64_t c0, int64_t cn, float* xp) {
    for (int64_t ci = 0; ci < cn; ++ci)
      for (int64_t n = 0; n < count; ++n)
        shifted_copies(x + ((n0 + n) * g.C + c0 + ci) * g.hw(), g.H, g.W, lp,
                       xp + (ci * count + n) * 3 * lp);
  };
  // When every channel's copies fit in one buffer (3 input channels), each thread makes all of
  // them in its own buffer, once a block, and the threads split the k-blocks among them. (One
  // buffer that both threads filled and both read ran at 111-153 GFLOP/s, these at 173-175,
  // presumably since each thread read half of it from the other core.) held: the block whose
  // copies this thread's buffer holds; every block of every call gets a new number.
  static std::atomic<int64_t> blocks_started{0};
  static thread_local int64_t held = -1;
  std::fill(dw, dw + g.K * g.crs(), 0.0f);
  for (int64_t n0 = 0; n0 < g.N; n0 += block) {
    const int64_t count = std::min(block, g.N - n0), block_id = ++blocks_started;
    // A task: one k-block over every channel (one buffer), or one channel group over every
    // k-block. Each item writes its own dW entries, and blocks of samples are added in order:
    // the result does not depend on the number of threads.
    parallel_for(0, one_buffer ? kblocks : cgroups, 1, [&](int64_t lo, int64_t hi) {
      float* xp = static_cast<float*>(
          workspace(0, static_cast<size_t>(gc * count * 3 * lp) * sizeof(float)));
      for (int64_t task = lo; task < hi; ++task) {
        const int64_t c0 = one_buffer ? 0 : task * gc, cn = std::min(gc, g.C - c0);
        const int64_t kb_begin = one_buffer ? task : 0, kb_end = one_buffer ? task + 1 : kblocks;
        if (!one_buffer) {
          make_copies(n0, count, c0, cn, xp);
        } else if (held != block_id) {
          make_copies(n0, count, 0, g.C, xp);
          held = block_id;
        }
        for (int64_t kb = kb_begin; kb < kb_end; ++kb) {
          const int64_t k0 = kb * kKb;
          const float* d = dy + (n0 * g.K + k0) * pq;
          for (int64_t ci = 0; ci < cn; ++ci) {
            const float* xc = xp + ci * count * 3 * lp;
            float* out = dw + (k0 * g.C + c0 + ci) * 9;
            const int64_t xs = 3 * lp;  // from one sample's copies to the next's
            switch (std::min<int64_t>(kKb, g.K - k0)) {
              case 1: plane_item<1>(d, dy_sample, pq, xc, xs, lp, g.W, count, out, dw_k); break;
              case 2: plane_item<2>(d, dy_sample, pq, xc, xs, lp, g.W, count, out, dw_k); break;
              default: plane_item<3>(d, dy_sample, pq, xc, xs, lp, g.W, count, out, dw_k); break;
            }
          }
        }
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
