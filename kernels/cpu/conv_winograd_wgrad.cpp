// The weight gradient of Winograd F(4x4, 3x3) (kernels/cpu/conv_winograd.h): for a group of
// tiles, V = B^T x B and the output gradient's A dY A^T, then dU[point] += (A dY A^T)[point]^T
// V[point] on the forward's register tile, and dW = G^T dU G. Two schedules: by thread (parts
// of dU and slices of samples) from 8 samples, by block below.
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

// The block schedule sums the products over tiles in runs of this many, the runs' sums added.
constexpr int64_t kSumRun = 64;
// The thread schedule (from kJobs samples): dU cut into parts of at most kPartChannels input x
// kPartChannels output channels (36 x 64 x 64 floats, 576 KiB, each), each part laying out and
// transforming its own channels of x and dY (with 512 channels each side, x's 8 times over: at
// 4x4 planes still less than the products, and no tile crosses between the cores).
constexpr int64_t kPartChannels = 64;
// Its jobs: a part of dU and a slice of the samples, each one thread's from the first layout to
// its partial dU, so that nothing passes between the cores (the block schedule's transforms go
// through the shared L3, where the machine's neighbour doubled its time in some phases); the
// slices' partials are summed in order, so that the bits do not depend on the number of
// threads. kJobs / parts slices, at least one: the partials are 4.5 MiB at most, and from 5
// parts on each job writes its part of dW itself.
constexpr int64_t kJobs = 8;
// Its chunks: whole rows of tiles, at least this many (a 32x32 sample): the products' runs.
// Runs of 8 and 16 (V and the output gradient's transforms in L2 beside dU) were slower at
// 64 -> 64@32: 14.8-16.8 and 10.2-12.2 ms against 9.2-10.0, dU's loads and stores then
// outweighing the misses.
constexpr int64_t kChunkTiles = 64;

// The transformed output gradient A dY A^T of the tile whose 4x4 dY starts at `corner` of a
// laid-out dY (laid out as x is, rows gr.wp pixels of gr.kp floats apart): point p's kp values
// at yh + p ypoint.
void transform_output_grad_at(const float* corner, const Grid& gr, int64_t ypoint, float* yh) {
  for (int64_t k0 = 0; k0 < gr.kp; k0 += kLanes) {
    Lanes d[kOut * kOut], out[kPoints];
    for (int i = 0; i < kOut; ++i)
      for (int j = 0; j < kOut; ++j) d[i * kOut + j] = load(corner + (i * gr.wp + j) * gr.kp + k0);
    winograd::output_grad_tile(d, out);
    for (int p = 0; p < kPoints; ++p) store(yh + p * ypoint + k0, out[p]);
  }
}

// Tile t of a whole laid-out dY (the plane at (1, 1)).
void transform_output_grad(const float* dyt, const Grid& gr, int64_t t, int64_t ypoint, float* yh) {
  transform_output_grad_at(
      dyt + ((kOut * (t / gr.tw) + 1) * gr.wp + kOut * (t % gr.tw) + 1) * gr.kp, gr, ypoint, yh);
}

// dU[p] (+)= Yh[p]^T V[p] over `tiles` transformed tiles (point p's at yh + p ypoint and
// v + p vpoint, rows kp and cp floats), jobs from lo to hi of the 36 points x panels of 64 input
// channels (point-major: consecutive jobs share Yh[p]), each summed over the tiles in order.
void add_products(const float* yh, int64_t ypoint, const float* v, int64_t vpoint, int64_t tiles,
                  int64_t run, const ConvGeom& g, const Grid& gr, int64_t lo, int64_t hi, float* du,
                  int64_t dpoint, bool accumulate) {
  const int64_t cpanels = (gr.cp + kPanel - 1) / kPanel;
  for (int64_t job = lo; job < hi; ++job) {
    const int64_t p = job / cpanels, c0 = job % cpanels * kPanel;
    const int nv = static_cast<int>(std::min<int64_t>(kTileVecs, (gr.cp - c0) / kLanes));
    for (int64_t k0 = 0; k0 < g.K; k0 += kTileRows) {
      const int mr = static_cast<int>(std::min<int64_t>(kTileRows, g.K - k0));
      for (int64_t r0 = 0; r0 < tiles; r0 += run)
        kProducts[mr - 1][nv - 1](yh + p * ypoint + r0 * gr.kp + k0, 1, gr.kp,
                                  v + p * vpoint + r0 * gr.cp + c0, gr.cp,
                                  std::min(run, tiles - r0), du + p * dpoint + k0 * gr.cp + c0,
                                  gr.cp, accumulate || r0 > 0);
    }
  }
}

// dW[k][c] = G^T dU G for k in [k0, k0 + kn) and c in [c0, c0 + cn), dU the sum over s <
// slices, in order, of the partials at du + s slice (point p's row k - k0 at + p dpoint + (k -
// k0) row, columns from c - c0), 16 input channels at a time.
void weight_grads(const float* du, int64_t slices, int64_t slice, int64_t dpoint, int64_t row,
                  int64_t k0, int64_t kn, int64_t c0, int64_t cn, const ConvGeom& g, float* dw) {
  for (int64_t k = 0; k < kn; ++k)
    for (int64_t c = 0; c < cn; c += kLanes) {
      const float* at = du + k * row + c;
      Lanes d[kPoints], out[9];
      for (int p = 0; p < kPoints; ++p) {
        d[p] = load(at + p * dpoint);
        for (int64_t s = 1; s < slices; ++s) d[p] += load(at + p * dpoint + s * slice);
      }
      winograd::weight_grad_tile(d, out);
      const int lanes = static_cast<int>(std::min<int64_t>(kLanes, cn - c));
      float* to = dw + ((k0 + k) * g.C + c0 + c) * 9;
      for (int l = 0; l < lanes; ++l)
        for (int tap = 0; tap < 9; ++tap) to[l * 9 + tap] = out[tap][l];
    }
}

// Fewer than kJobs samples: blocks of samples (V and the output gradient's transforms at least as
// large as dU, which is read and written once a block), transformed by all threads, then the
// products split by point and panel: dU passes between the threads through the shared L3.
void weight_grad_by_block(const float* x, const float* dy, const ConvGeom& g, const Grid& gr,
                          float* du, int64_t dpoint) {
  const int64_t fit = std::max<int64_t>(
      1, std::max(kBlockFloats, kPoints * dpoint) / (kPoints * (gr.cp + gr.kp) * gr.tiles));
  const int64_t per_block = samples_per_block(g.N, fit);
  const int64_t block_rows = per_block * gr.tiles;
  float* v = static_cast<float*>(
      workspace(1, static_cast<size_t>(kPoints * (block_rows * gr.cp + kSkew)) * sizeof(float)));
  float* yh = static_cast<float*>(
      workspace(2, static_cast<size_t>(kPoints * (block_rows * gr.kp + kSkew)) * sizeof(float)));
  const int64_t jobs = kPoints * ((gr.cp + kPanel - 1) / kPanel);
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
    parallel_for(0, jobs, 1, [&](int64_t lo, int64_t hi) {
      add_products(yh, ypoint, v, vpoint, rows, kSumRun, g, gr, lo, hi, du, dpoint, n0 > 0);
    });
  }
}

// How the thread schedule cuts dU: parts of pc x pk channels (the last ones padded with zeros),
// each a sub-problem on channels [c0, c0 + pc) of x and [k0, k0 + pk) of dY; `floats` apart.
struct Parts {
  int64_t pc, pk, cparts, kparts, count, slices, dpoint, floats;
  explicit Parts(const Grid& gr)
      : pc(std::min(gr.cp, kPartChannels)),
        pk(std::min(gr.kp, kPartChannels)),
        cparts((gr.cp + pc - 1) / pc),
        kparts((gr.kp + pk - 1) / pk),
        count(cparts * kparts),
        slices(std::max<int64_t>(1, kJobs / count)),
        dpoint(pk * pc + kSkew),
        floats(kPoints * dpoint + kSkew) {}
};

// Jobs of (slice, part), each one thread's: chunks of about kChunkTiles tiles (rows of tiles of
// one sample, or whole samples) laid out (x's 4 r + 2 rows, dY's 4 r a sample, the part's
// channels), transformed and multiplied into the job's partial dU (du + job floats). With one
// slice a part's dU is whole at the end of its job, which then writes its dW from the core's L2
// (du null: each thread's dU in its workspace; at 512 channels each side dU is 38 MiB, and
// writing it out and reading it back took a third of the pass).
void weight_grad_by_thread(const float* x, const float* dy, const ConvGeom& g, const Grid& gr,
                           const Parts& pt, float* du, float* dw) {
  // The part's sub-problem: pc input and pk output channels (those past C or K zero).
  ConvGeom sub = g;
  sub.C = pt.pc, sub.K = pt.pk;
  const Grid sg(sub);
  const int64_t chunk_rows = std::min(gr.th, (kChunkTiles + gr.tw - 1) / gr.tw);
  const int64_t chunk_samples = chunk_rows < gr.th ? 1 : (kChunkTiles + gr.tiles - 1) / gr.tiles;
  const int64_t chunk_tiles = chunk_samples * chunk_rows * gr.tw;
  const int64_t xfloats = (kOut * chunk_rows + 2) * gr.wp * sg.cp;
  const int64_t dfloats = kOut * chunk_rows * gr.wp * sg.kp;
  const int64_t jobs = kPoints * ((sg.cp + kPanel - 1) / kPanel);
  parallel_for(0, pt.slices * pt.count, 1, [&](int64_t lo, int64_t hi) {
    float* xb =
        static_cast<float*>(workspace(0, static_cast<size_t>(xfloats + dfloats) * sizeof(float)));
    float* db = xb + xfloats;
    float* v = static_cast<float*>(
        workspace(1, static_cast<size_t>(kPoints * (chunk_tiles * sg.cp + kSkew)) * sizeof(float)));
    float* yh = static_cast<float*>(
        workspace(2, static_cast<size_t>(kPoints * (chunk_tiles * sg.kp + kSkew)) * sizeof(float)));
    float* own =
        du ? nullptr
           : static_cast<float*>(workspace(3, static_cast<size_t>(pt.floats) * sizeof(float)));
    for (int64_t job = lo; job < hi; ++job) {
      float* part_du = du ? du + job * pt.floats : own;
      const int64_t s = job / pt.count, part = job % pt.count;
      const int64_t c0 = part % pt.cparts * pt.pc, k0 = part / pt.cparts * pt.pk;
      const int64_t cn = std::min(pt.pc, g.C - c0), kn = std::min(pt.pk, g.K - k0);
      const int64_t end = (s + 1) * g.N / pt.slices;
      bool first = true;
      for (int64_t n0 = s * g.N / pt.slices; n0 < end; n0 += chunk_samples)
        for (int64_t ty0 = 0; ty0 < gr.th; ty0 += chunk_rows) {
          const int64_t count = std::min(chunk_samples, end - n0);
          const int64_t rows = std::min(chunk_rows, gr.th - ty0), tiles = count * rows * gr.tw;
          const int64_t vpoint = tiles * sg.cp + kSkew, ypoint = tiles * sg.kp + kSkew;
          for (int64_t j = 0; j < count; ++j) {
            const int64_t n = n0 + j;
            lay_out_rows(x + (n * g.C + c0) * g.hw(), cn, sg.cp, g, sg, kOut * ty0, kOut * rows + 2,
                         xb);
            lay_out_rows(dy + (n * g.K + k0) * g.hw(), kn, sg.kp, g, sg, kOut * ty0 + 1,
                         kOut * rows, db);
            for (int64_t i = 0; i < rows * gr.tw; ++i) {
              const int64_t at = kOut * (i / gr.tw) * gr.wp + kOut * (i % gr.tw);
              const int64_t row = j * rows * gr.tw + i;
              transform_input_at(xb + at * sg.cp, sg, vpoint, v + row * sg.cp);
              transform_output_grad_at(db + (at + 1) * sg.kp, sg, ypoint, yh + row * sg.kp);
            }
          }
          add_products(yh, ypoint, v, vpoint, tiles, tiles, sub, sg, 0, jobs, part_du, pt.dpoint,
                       !first);
          first = false;
        }
      if (!du) weight_grads(own, 1, 0, pt.dpoint, pt.pc, k0, kn, c0, cn, g, dw);
    }
  });
}

}  // namespace

void winograd_conv_weight_grad(const float* x, const float* dy, float* dw, const ConvGeom& g) {
  if (g.N == 0) {
    std::fill(dw, dw + g.K * g.C * 9, 0.0f);
    return;
  }
  const Grid gr(g);
  const Parts pt(gr);
  if (g.N >= kJobs) {
    if (pt.slices == 1) return weight_grad_by_thread(x, dy, g, gr, pt, nullptr, dw);
    // A partial dU a job (slice-major), then dW a part and 16 output channels at a time.
    float* du = static_cast<float*>(
        workspace(3, static_cast<size_t>(pt.slices * pt.count * pt.floats) * sizeof(float)));
    weight_grad_by_thread(x, dy, g, gr, pt, du, dw);
    const int64_t kblocks = (pt.pk + kLanes - 1) / kLanes;
    parallel_for(0, pt.count * kblocks, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t item = lo; item < hi; ++item) {
        const int64_t part = item / kblocks, kb = item % kblocks * kLanes;
        const int64_t c0 = part % pt.cparts * pt.pc, k0 = part / pt.cparts * pt.pk + kb;
        if (k0 >= g.K) continue;
        weight_grads(du + part * pt.floats + kb * pt.pc, pt.slices, pt.count * pt.floats, pt.dpoint,
                     pt.pc, k0, std::min<int64_t>(kLanes, std::min(pt.pk - kb, g.K - k0)), c0,
                     std::min(pt.pc, g.C - c0), g, dw);
      }
    });
    return;
  }
  // One dU, kp x cp a point.
  const int64_t dpoint = gr.kp * gr.cp + kSkew;
  float* du =
      static_cast<float*>(workspace(3, static_cast<size_t>(kPoints * dpoint) * sizeof(float)));
  weight_grad_by_block(x, dy, g, gr, du, dpoint);
  parallel_for(0, g.K, 4, [&](int64_t lo, int64_t hi) {
    weight_grads(du + lo * gr.cp, 1, 0, dpoint, gr.cp, lo, hi - lo, 0, g.C, g, dw);
  });
}

}  // namespace sire::cpu
