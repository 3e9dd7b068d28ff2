// The CUDA convolution kernels' index logic, run on the CPU: the Problems of
// kernels/cuda/conv_problems.h (which thread gathers which operand element, where each output
// goes), the thread maps of conv_tile.h and the split-K plan of conv_plan.h, executed block by
// block, thread by thread and step by step as the GPU would, against the CPU backend; the TF32
// and 3xTF32 maths mma by mma, with the hardware's fragment layouts (3xTF32 also with its
// operand split and the tensor cores' truncation, so its accuracy too). What this cannot check
// (shared-memory staging, barriers, the float4 reads, the inline assembly) is small and reviewed by
// eye; it runs on a GPU in tests/test_cuda_ops.cpp.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "engine/backend.h"
#include "kernels/cuda/conv_few_channels.h"
#include "kernels/cuda/conv_problems.h"
#include "kernels/cuda/conv_winograd.h"
#include "tests/support/op_cases.h"
#include "tests/support/reference.h"

using namespace sire;
using namespace sire::cuda;
using namespace sire::cuda::conv;

namespace {

// The kernels' maths (conv_math.cuh): FP32 FMAs over the whole tile; TF32 mma by mma on the
// operands as staged (the maps, not TF32's rounding: compared as tightly as FP32); 3xTF32 mma by
// mma on the operands split by the kernels' own tf32_split, each product's operands truncated to
// TF32 as the tensor cores truncate them (the rounding itself: compared as tightly as FP32 too).
enum class Mode { kFP32, kTF32, kTF32x3 };
const char* mode_name(Mode m) {
  return m == Mode::kFP32 ? "FP32" : m == Mode::kTF32 ? "TF32" : "3xTF32";
}

// What the tensor cores read of a .tf32 operand: its top 19 bits.
float tf32_truncated(float x) { return bits_float(float_bits(x) & 0xffffe000u); }

ConvPlan forced_plan(int64_t M, int64_t N, int ktiles, ConvTile tile, int splits, int batches = 1) {
  ConvPlan p;
  p.batches = batches;
  p.tile = tile;
  p.rows = M;
  p.cols = N;
  p.ktiles = ktiles;
  p.row_blocks = (M + tile_rows(tile) - 1) / tile_rows(tile);
  p.col_blocks = (N + tile_cols(tile) - 1) / tile_cols(tile);
  p.per_split = std::max(1, (ktiles + splits - 1) / splits);
  p.splits = (ktiles + p.per_split - 1) / p.per_split;
  return p;
}

// The fragment layouts of mma.sync.m16n8k8 with .tf32 operands, as the PTX ISA tabulates them
// (g = lane / 4, t = lane % 4): what the hardware does with the registers. Written out here
// case by case, apart from conv_tile.h's formulas, so that the emulation below checks those.
struct RowCol {
  int r, c;
};
RowCol hw_a(int lane, int e) {  // A, 16 x 8: (row, k) of register e < 4
  const int g = lane / 4, t = lane % 4;
  const RowCol at[4] = {{g, t}, {g + 8, t}, {g, t + 4}, {g + 8, t + 4}};
  return at[e];
}
RowCol hw_b(int lane, int e) {  // B, 8 x 8: (k, column) of register e < 2
  const int g = lane / 4, t = lane % 4;
  const RowCol at[2] = {{t, g}, {t + 4, g}};
  return at[e];
}
RowCol hw_c(int lane, int e) {  // C and D, 16 x 8: (row, column) of register e < 4
  const int g = lane / 4, t = lane % 4;
  const RowCol at[4] = {{g, 2 * t}, {g, 2 * t + 1}, {g + 8, 2 * t}, {g + 8, 2 * t + 1}};
  return at[e];
}

// One step of TF32 math (Tf32Math::step) on the staged tiles As [k][BM], Bs [k][BN], emulated:
// each lane's registers loaded from where the kernel loads them (conv_tile.h's maps), the mma
// done as the hardware does it (hw_a, hw_b, hw_c), the product added to the accumulators
// acc[warp][lane][i][j][e]. Checks that every operand element of every mma comes from exactly
// one lane's register.
template <class T>
bool tf32_step(const std::vector<float>& As, const std::vector<float>& Bs, std::vector<float>& acc,
               Mode mode) {
  bool ok = true;
  for (int warp = 0; warp < kThreads / 32; ++warp)
    for (int i = 0; i < T::FM; ++i)
      for (int j = 0; j < T::FN; ++j) {
        float A[16][8], B[8][8];
        int ha[16][8] = {}, hb[8][8] = {};
        for (int lane = 0; lane < 32; ++lane) {
          for (int e = 0; e < 4; ++e) {
            const RowCol at = hw_a(lane, e);
            A[at.r][at.c] = As[mma_a_k(lane, e) * T::BM + tf32_a_row<T>(warp, i, lane, e)];
            ++ha[at.r][at.c];
          }
          for (int e = 0; e < 2; ++e) {
            const RowCol at = hw_b(lane, e);
            B[at.r][at.c] = Bs[mma_b_k(lane, e) * T::BN + tf32_b_col<T>(warp, j, lane)];
            ++hb[at.r][at.c];
          }
        }
        for (auto& row : ha)
          for (int h : row) ok &= h == 1;
        for (auto& row : hb)
          for (int h : row) ok &= h == 1;
        for (int lane = 0; lane < 32; ++lane)
          for (int e = 0; e < 4; ++e) {
            const RowCol at = hw_c(lane, e);
            float& d = acc[(((warp * 32 + lane) * T::FM + i) * T::FN + j) * 4 + e];
            if (mode == Mode::kTF32) {
              float sum = 0.0f;
              for (int k = 0; k < 8; ++k) sum += A[at.r][k] * B[k][at.c];
              d += sum;
              continue;
            }
            // Tf32Math<T, true>::mma3: small A x big B, big A x small B, big A x big B.
            for (int product = 0; product < 3; ++product) {
              float sum = 0.0f;
              for (int k = 0; k < 8; ++k) {
                const Tf32Split a = tf32_split(A[at.r][k]), b = tf32_split(B[k][at.c]);
                const float x = product == 0 ? a.small : a.big;
                const float y = product == 1 ? b.small : b.big;
                sum += tf32_truncated(x) * tf32_truncated(y);  // exact: 11 x 11 bits
              }
              d += sum;
            }
          }
      }
  return ok;
}

// One launch of a conv_gemm kernel (and split_reduce_kernel), emulated: every block (its problem
// and steps decoded from blockIdx.z by the kernels' own block_work), every thread's loads of
// every step placed in the tile as stash() places them, the tile product (FP32: the whole tile;
// TF32: mma by mma, tf32_step), every thread's outputs emitted as the kernel's epilogue emits
// them, and the splits summed by the reduction kernel's own split_sum. Checks on the way that
// each shared-memory slot is written exactly once per step and each output once per block.
template <class P, int BM, int BN>
void emulate(const P& p, const ConvPlan& plan, Mode mode) {
  const bool tf32 = mode != Mode::kFP32;
  using T = Tile<BM, BN>;
  using L = typename P::template Loader<T>;
  const int64_t MN = int64_t{p.M} * p.Ncols;
  std::vector<float> partial(plan.splits > 1 ? plan.z_blocks() * MN : 0, NAN);
  std::vector<float> As(kBK * BM), Bs(kBK * BN), acc(BM * BN);
  std::vector<int> a_hits(kBK * BM), b_hits(kBK * BN), out_hits(BM * BN);
  std::vector<float> frag_acc(BM * BN);  // TF32: [warp][lane][i][j][e]
  bool slots_ok = true, outputs_ok = true, fragments_ok = true;
  for (int z = 0; z < plan.z_blocks(); ++z)
    for (int64_t by = 0; by < plan.row_blocks; ++by)
      for (int64_t bx = 0; bx < plan.col_blocks; ++bx) {
        const int m0 = static_cast<int>(by * BM), n0 = static_cast<int>(bx * BN);
        const BlockWork<P> work = block_work(p, plan.per_split, z);
        const int begin = work.r.begin, end = work.r.end;
        std::vector<L> loaders;
        for (int tid = 0; tid < kThreads; ++tid) loaders.emplace_back(work.p, m0, n0, tid, begin);
        std::fill(acc.begin(), acc.end(), 0.0f);
        std::fill(frag_acc.begin(), frag_acc.end(), 0.0f);
        for (int kt = begin; kt < end; ++kt) {
          std::fill(a_hits.begin(), a_hits.end(), 0);
          std::fill(b_hits.begin(), b_hits.end(), 0);
          for (int tid = 0; tid < kThreads; ++tid) {
            float ra[T::A_PER], rb[T::B_PER];
            loaders[tid].load(work.p, ra, rb);
            loaders[tid].next(work.p);
            for (int i = 0; i < T::A_PER; ++i) {
              const int at = tile_k<L::kA, BM>(tid, i) * BM + tile_row<L::kA, BM>(tid, i);
              As[at] = ra[i];
              ++a_hits[at];
            }
            for (int i = 0; i < T::B_PER; ++i) {
              const int at = tile_k<L::kB, BN>(tid, i) * BN + tile_row<L::kB, BN>(tid, i);
              Bs[at] = rb[i];
              ++b_hits[at];
            }
          }
          for (int h : a_hits) slots_ok &= h == 1;
          for (int h : b_hits) slots_ok &= h == 1;
          if (tf32) {
            fragments_ok &= tf32_step<T>(As, Bs, frag_acc, mode);
            continue;
          }
          for (int k = 0; k < kBK; ++k)
            for (int m = 0; m < BM; ++m)
              for (int n = 0; n < BN; ++n) acc[m * BN + n] += As[k * BM + m] * Bs[k * BN + n];
        }
        if (tf32)  // the epilogue's map: each accumulator to its tile position
          for (int warp = 0; warp < kThreads / 32; ++warp)
            for (int lane = 0; lane < 32; ++lane)
              for (int i = 0; i < T::FM; ++i)
                for (int j = 0; j < T::FN; ++j)
                  for (int e = 0; e < 4; ++e)
                    acc[tf32_row<T>(warp, i, lane, e) * BN + tf32_col<T>(warp, j, lane, e)] =
                        frag_acc[(((warp * 32 + lane) * T::FM + i) * T::FN + j) * 4 + e];
        std::fill(out_hits.begin(), out_hits.end(), 0);
        for (int tid = 0; tid < kThreads; ++tid)
          for (int i = 0; i < T::TM; ++i)
            for (int j = 0; j < T::TN; ++j) {
              const int r = fp32_row(tid, i), c = fp32_col(tid, j);
              ++out_hits[r * BN + c];
              const int m = m0 + r, n = n0 + c;
              if (m >= p.M || n >= p.Ncols) continue;
              if (plan.splits > 1)
                partial[(int64_t{z} * p.M + m) * p.Ncols + n] = acc[r * BN + c];
              else
                work.p.store(m, n, acc[r * BN + c]);
            }
        for (int h : out_hits) outputs_ok &= h == 1;
      }
  CHECK(slots_ok);
  CHECK(outputs_ok);
  CHECK(fragments_ok);
  if (plan.splits > 1)
    for (int64_t i = 0; i < MN * plan.batches; ++i) split_sum(p, plan.splits, partial.data(), i);
}

template <class P>
void emulate(const P& p, const ConvPlan& plan, Mode mode) {
  switch (plan.tile) {
    case ConvTile::k128x128:
      emulate<P, 128, 128>(p, plan, mode);
      break;
    case ConvTile::k64x256:
      emulate<P, 64, 256>(p, plan, mode);
      break;
    case ConvTile::k64x128:
      emulate<P, 64, 128>(p, plan, mode);
      break;
    case ConvTile::k64x64:
      emulate<P, 64, 64>(p, plan, mode);
      break;
  }
}

// The few-channel backward-data kernel's per-pixel work, run for every input pixel.
void emulate_few_channels(const FewChannelsBackwardData& p, const float* wd) {
  const bool dispatched = with_channel_count(p.g.C, [&](auto nc) {
    for (int col = 0; col < p.g.N * p.g.H * p.g.W; ++col) p.pixel<decltype(nc)::value>(col, wd);
  });
  CHECK(dispatched);
}

Geom32 geom32_of(const ConvGeom& g) {
  auto i = [](int64_t v) { return static_cast<int>(v); };
  return Geom32{i(g.N), i(g.C), i(g.H),        i(g.W),        i(g.K),     i(g.R),    i(g.S),
                i(g.P), i(g.Q), i(g.stride_h), i(g.stride_w), i(g.pad_h), i(g.pad_w)};
}

// The three passes of one geometry, each on every tile shape, unsplit and split.
void check_geometry(const ConvGeom& g) {
  INFO("N" << g.N << " C" << g.C << " " << g.H << "x" << g.W << " K" << g.K << " k" << g.R << "x"
           << g.S << " s" << g.stride_h << " p" << g.pad_h << " -> " << g.P << "x" << g.Q);
  const Tensor x = testing::random_tensor({g.N, g.C, g.H, g.W}, DType::F32, 1);
  const Tensor w = testing::random_tensor({g.K, g.C, g.R, g.S}, DType::F32, 2);
  const Tensor bias = testing::random_tensor({g.K}, DType::F32, 3);
  const Tensor dy = testing::random_tensor({g.N, g.K, g.P, g.Q}, DType::F32, 4);
  Tensor y_ref = Tensor::empty(dy.shape()), dx_ref = Tensor::empty(x.shape()),
         dw_ref = Tensor::empty(w.shape());
  cpu_backend().conv2d_forward(x, w, &bias, y_ref, g);
  cpu_backend().conv2d_backward_data(dy, w, dx_ref, g);
  cpu_backend().conv2d_backward_weight(x, dy, dw_ref, g);

  const Geom32 g32 = geom32_of(g);
  const int K = g32.K, C = g32.C, taps = g32.R * g32.S;
  std::vector<float> wt(w.numel()), wd(w.numel());
  const float* pw = w.data<float>();
  for (int64_t i = 0; i < w.numel(); ++i) {
    wt[i] = pw[weight_for_forward(i, K, C, taps)];
    wd[i] = pw[weight_for_backward_data(i, K, C, taps)];
  }
  const double tol = 1e-5 * std::sqrt(static_cast<double>(std::max({C * taps, K * taps, 64})));
  if (C <= kFewChannels && C * taps * kFewOut <= kFewWeights) {
    INFO("few-channel forward");
    Tensor y = Tensor::full(y_ref.shape(), NAN);
    const FewChannelsForward p{x.data<float>(), w.data<float>(), bias.data<float>(),
                               y.data<float>(), g32};
    std::vector<float> wc(p.weights());
    for (int k0 = 0; k0 < K; k0 += kFewOut) {  // block (x, y): output channels from y kFewOut
      for (int i = 0; i < p.weights(); ++i) wc[i] = p.weight(i, k0);
      for (int col = 0; col < g32.N * g32.P * g32.Q; ++col) p.pixel(col, k0, wc.data());
    }
    CHECK(ref::mismatch(y, y_ref, tol, tol) <= 1.0);
  }
  if (C <= kFewChannels) {
    INFO("few-channel backward-data");
    Tensor dx = Tensor::full(x.shape(), NAN);
    emulate_few_channels(FewChannelsBackwardData{dy.data<float>(), dx.data<float>(), g32},
                         wd.data());
    CHECK(ref::mismatch(dx, dx_ref, tol, tol) <= 1.0);
  }
  for (Mode mode : {Mode::kFP32, Mode::kTF32, Mode::kTF32x3})
    for (ConvTile tile :
         {ConvTile::k128x128, ConvTile::k64x256, ConvTile::k64x128, ConvTile::k64x64})
      for (int splits : {1, 3}) {
        INFO(mode_name(mode) << " tile " << tile_rows(tile) << "x" << tile_cols(tile) << ", "
                             << splits << " splits");
        Tensor y = Tensor::full(y_ref.shape(), NAN), dx = Tensor::full(x.shape(), NAN),
               dw = Tensor::full(w.shape(), NAN);
        Forward f = Forward::make(g32);
        f.x = x.data<float>(), f.wt = wt.data(), f.bias = bias.data<float>(), f.y = y.data<float>();
        emulate(f, forced_plan(f.M, f.Ncols, f.ktiles, tile, splits), mode);
        CHECK(ref::mismatch(y, y_ref, tol, tol) <= 1.0);

        BackwardData d = BackwardData::make(g32);
        d.dy = dy.data<float>(), d.wd = wd.data(), d.dx = dx.data<float>();
        emulate(d, forced_plan(d.M, d.Ncols, d.ktiles, tile, splits), mode);
        CHECK(ref::mismatch(dx, dx_ref, tol, tol) <= 1.0);

        BackwardWeight bw = BackwardWeight::make(g32);
        bw.x = x.data<float>(), bw.dy = dy.data<float>(), bw.dw = dw.data<float>();
        emulate(bw, forced_plan(bw.M, bw.Ncols, bw.ktiles, tile, splits), mode);
        CHECK(ref::mismatch(dw, dw_ref, tol * 4, tol * 4) <= 1.0);
      }
}

ConvGeom conv_geom(int64_t N, int64_t C, int64_t H, int64_t W, int64_t K, int64_t k, int64_t s,
                   int64_t p) {
  ConvGeom g;
  g.N = N, g.C = C, g.H = H, g.W = W, g.K = K, g.R = g.S = k;
  g.stride_h = g.stride_w = s, g.pad_h = g.pad_w = p;
  g.P = conv_out_size(H, k, s, p);
  g.Q = conv_out_size(W, k, s, p);
  return g;
}

// The CUDA Winograd path (conv_winograd.h) of one geometry, emulated: the transforms thread by
// thread, the 36 products as one emulated launch (blockIdx.z decoded into point and split as
// the kernels decode it: every tile shape, the FP32 and TF32 maps, unsplit and split), the output
// transform; the forward pass (with bias), the input gradient and the weight gradient against
// the f64 path, within the CPU Winograd test's tolerances (tests/test_reference.cpp). Every
// buffer starts as NaN, so a value no thread writes is caught.
void check_winograd(const ConvGeom& g) {
  INFO("Winograd: N" << g.N << " C" << g.C << " " << g.H << "x" << g.W << " K" << g.K);
  REQUIRE(winograd_takes(g, Winograd::kAlways, Math::kFP32));
  const Tensor x = testing::random_tensor({g.N, g.C, g.H, g.W}, DType::F32, 31);
  const Tensor w = testing::random_tensor({g.K, g.C, 3, 3}, DType::F32, 32, 0.3);
  const Tensor bias = testing::random_tensor({g.K}, DType::F32, 33);
  const Tensor dy = testing::random_tensor({g.N, g.K, g.H, g.W}, DType::F32, 34);
  Tensor y_ref = Tensor::empty(dy.shape(), DType::F64),
         dx_ref = Tensor::empty(x.shape(), DType::F64);
  const Tensor w64 = w.to(DType::F64), b64 = bias.to(DType::F64);
  cpu_backend().conv2d_forward(x.to(DType::F64), w64, &b64, y_ref, g);
  cpu_backend().conv2d_backward_data(dy.to(DType::F64), w64, dx_ref, g);

  for (const bool input_gradient : {false, true}) {
    INFO((input_gradient ? "input gradient" : "forward"));
    const int in = static_cast<int>(input_gradient ? g.K : g.C);
    const int out = static_cast<int>(input_gradient ? g.C : g.K);
    const WinogradGeom wg = WinogradGeom::make(static_cast<int>(g.N), in, out,
                                               static_cast<int>(g.H), static_cast<int>(g.W));
    std::vector<float> u(wg.u_floats(), NAN), v(wg.v_floats(), NAN), m(wg.m_floats(), NAN);
    const WinogradWeight ww{w.data<float>(), u.data(), in, out, input_gradient};
    for (int64_t i = 0; i < ww.threads(); ++i) ww.run(i);
    const WinogradInput wi{(input_gradient ? dy : x).data<float>(), v.data(), wg};
    for (int64_t i = 0; i < wi.threads(); ++i) wi.run(i);
    const Tensor& ref = input_gradient ? dx_ref : y_ref;
    const double t = 1e-5 * std::sqrt(static_cast<double>(in * 9)) * 4;
    for (Mode mode : {Mode::kFP32, Mode::kTF32})
      for (ConvTile tile :
           {ConvTile::k128x128, ConvTile::k64x256, ConvTile::k64x128, ConvTile::k64x64})
        for (int splits : {1, 2}) {
          INFO(mode_name(mode) << " tile " << tile_rows(tile) << "x" << tile_cols(tile) << ", "
                               << splits << " splits");
          std::fill(m.begin(), m.end(), NAN);
          WinogradProduct p = WinogradProduct::make(wg);
          p.u = u.data(), p.v = v.data(), p.m = m.data();
          emulate(p, forced_plan(p.M, p.Ncols, p.ktiles, tile, splits, p.batches()), mode);
          Tensor y = Tensor::full(ref.shape(), NAN);
          const WinogradOutput wo{m.data(), input_gradient ? nullptr : bias.data<float>(),
                                  y.data<float>(), wg};
          for (int64_t i = 0; i < wo.threads(); ++i) wo.run(i);
          CHECK(ref::mismatch(y, ref, t, t) <= 1.0);
        }
  }

  // The weight gradient: V of x, dM of dy, the products (split as a large plane's would be),
  // dw; within the CPU test's bound for a reduction over N H W pixels.
  INFO("weight gradient");
  Tensor dw_ref = Tensor::empty(w.shape(), DType::F64);
  cpu_backend().conv2d_backward_weight(x.to(DType::F64), dy.to(DType::F64), dw_ref, g);
  const WinogradGeom wg =
      WinogradGeom::make(static_cast<int>(g.N), static_cast<int>(g.C), static_cast<int>(g.K),
                         static_cast<int>(g.H), static_cast<int>(g.W));
  std::vector<float> v(wg.v_floats(), NAN), dm(wg.m_floats(), NAN), du(wg.u_floats(), NAN);
  const WinogradInput wi{x.data<float>(), v.data(), wg};
  for (int64_t i = 0; i < wi.threads(); ++i) wi.run(i);
  const WinogradOutputGrad wo{dy.data<float>(), dm.data(), wg};
  for (int64_t i = 0; i < wo.threads(); ++i) wo.run(i);
  const double tw = 1e-5 * std::sqrt(static_cast<double>(g.N * g.H * g.W)) * 4;
  for (Mode mode : {Mode::kFP32, Mode::kTF32})
    for (ConvTile tile :
         {ConvTile::k128x128, ConvTile::k64x256, ConvTile::k64x128, ConvTile::k64x64})
      for (int splits : {1, 3}) {
        INFO(mode_name(mode) << " tile " << tile_rows(tile) << "x" << tile_cols(tile) << ", "
                             << splits << " splits");
        std::fill(du.begin(), du.end(), NAN);
        WinogradWeightProduct p = WinogradWeightProduct::make(wg);
        p.dm = dm.data(), p.v = v.data(), p.du = du.data();
        emulate(p, forced_plan(p.M, p.Ncols, p.ktiles, tile, splits, p.batches()), mode);
        Tensor dw = Tensor::full(w.shape(), NAN);
        const WinogradWeightGrad wgrad{du.data(), dw.data<float>(), wg.in, wg.out};
        for (int64_t i = 0; i < wgrad.threads(); ++i) wgrad.run(i);
        CHECK(ref::mismatch(dw, dw_ref, tw, tw) <= 1.0);
      }
}

}  // namespace

TEST_CASE("the CUDA Winograd path, emulated, matches the f64 path", "[conv_emulation]") {
  // Planes the tiles cover exactly and partly (7x9, 5x6), channel counts off the 8-deep step and
  // off the tiles (17, 20, 130: two 128-row tiles), more tiles than one 64-column block.
  for (const ConvGeom& g :
       {conv_geom(2, 17, 7, 9, 20, 3, 1, 1), conv_geom(1, 24, 8, 8, 130, 3, 1, 1),
        conv_geom(3, 16, 5, 6, 16, 3, 1, 1), conv_geom(4, 16, 16, 12, 24, 3, 1, 1)})
    check_winograd(g);
}

TEST_CASE("the CUDA Winograd path takes 3x3 'same' stride-1 convolutions with enough channels",
          "[conv_emulation]") {
  const ConvGeom same = conv_geom(64, 64, 32, 32, 64, 3, 1, 1);
  CHECK(winograd_takes(same, Winograd::kAuto, Math::kFP32));
  CHECK_FALSE(winograd_takes(same, Winograd::kAuto, Math::kTF32));  // auto: FP32 only
  CHECK(winograd_takes(same, Winograd::kAlways, Math::kTF32));
  CHECK_FALSE(winograd_takes(same, Winograd::kOff, Math::kFP32));
  CHECK_FALSE(winograd_takes(conv_geom(64, 32, 32, 32, 64, 3, 1, 1), Winograd::kAuto, Math::kFP32));
  CHECK(winograd_takes(conv_geom(64, 32, 32, 32, 64, 3, 1, 1), Winograd::kAlways, Math::kFP32));
  CHECK_FALSE(
      winograd_takes(conv_geom(64, 8, 32, 32, 64, 3, 1, 1), Winograd::kAlways, Math::kFP32));
  CHECK_FALSE(
      winograd_takes(conv_geom(64, 64, 32, 32, 64, 3, 2, 1), Winograd::kAlways, Math::kFP32));
  CHECK_FALSE(
      winograd_takes(conv_geom(64, 64, 32, 32, 64, 3, 1, 0), Winograd::kAlways, Math::kFP32));
  CHECK_FALSE(
      winograd_takes(conv_geom(64, 64, 32, 32, 64, 1, 1, 0), Winograd::kAlways, Math::kFP32));
  CHECK_FALSE(winograd_takes(conv_geom(64, 64, 2, 2, 64, 3, 1, 1), Winograd::kAlways, Math::kFP32));
  CHECK(winograd_takes(conv_geom(64, 512, 4, 4, 512, 3, 1, 1), Winograd::kAuto, Math::kFP32));
}

TEST_CASE("the CUDA conv kernels' index logic, emulated, matches the CPU backend",
          "[conv_emulation]") {
  // Odd sizes, stride 2 (and so transposed-conv output padding: even H), padding 0..2, 1x1, 5x5
  // and even kernels, channel counts off the 8-deep step, more than one 128-row tile. The
  // loaders walk the steps incrementally from each split's first step: splits of 3 start them
  // mid-tap and mid-sample.
  for (const ConvGeom& g :
       {conv_geom(2, 3, 7, 7, 4, 3, 1, 1), conv_geom(2, 3, 8, 9, 5, 3, 2, 0),
        conv_geom(1, 2, 6, 5, 3, 3, 2, 2), conv_geom(3, 4, 5, 5, 2, 1, 1, 0),
        conv_geom(2, 3, 9, 7, 3, 5, 2, 2), conv_geom(2, 3, 4, 4, 3, 2, 2, 1),
        conv_geom(1, 1, 3, 3, 2, 3, 1, 2), conv_geom(2, 9, 8, 8, 130, 3, 2, 1),
        conv_geom(1, 130, 5, 5, 20, 3, 1, 1), conv_geom(4, 17, 12, 10, 70, 3, 1, 1),
        conv_geom(3, 5, 11, 11, 7, 4, 3, 1),
        // Outputs of fewer pixels than a step (2x2, 1x1): a step's pixels span several samples.
        conv_geom(5, 3, 3, 3, 4, 3, 2, 1), conv_geom(9, 2, 1, 1, 3, 1, 1, 0),
        // Few input channels, more output channels than one block of the few-channel forward.
        conv_geom(2, 3, 9, 7, 70, 3, 2, 1)})
    check_geometry(g);
}

TEST_CASE("the TF32 epilogue covers each output tile element once", "[conv_emulation]") {
  auto check = [](auto tile) {
    using T = decltype(tile);
    std::vector<int> hits(T::BM * T::BN, 0);
    for (int warp = 0; warp < kThreads / 32; ++warp)
      for (int lane = 0; lane < 32; ++lane)
        for (int i = 0; i < T::FM; ++i)
          for (int j = 0; j < T::FN; ++j)
            for (int e = 0; e < 4; ++e)
              ++hits[tf32_row<T>(warp, i, lane, e) * T::BN + tf32_col<T>(warp, j, lane, e)];
    for (int h : hits) CHECK(h == 1);
  };
  check(Tile<128, 128>{});
  check(Tile<64, 256>{});
  check(Tile<64, 128>{});
  check(Tile<64, 64>{});
}

// The kernels' 3xTF32 split (conv_tile.h), on its own: dot products as long as the SIRe-CNN
// layers' reductions (512 channels x 9 taps), summed in float as the kernels' accumulators are.
// Three truncated TF32 products come within a small factor of plain FP32's error; one TF32
// product (the big parts: TF32 math) is orders of magnitude worse, so the bound discriminates.
TEST_CASE("3xTF32 products keep FP32's accuracy, one TF32 product does not", "[conv_emulation]") {
  const int n = 512 * 9, trials = 64;
  const Tensor a = testing::random_tensor({trials, n}, DType::F32, 21);
  const Tensor b = testing::random_tensor({trials, n}, DType::F32, 22);
  const float *pa = a.data<float>(), *pb = b.data<float>();
  double err_fp32 = 0, err_three = 0, err_one = 0;
  for (int t = 0; t < trials; ++t) {
    double exact = 0, scale = 0;
    float fp32 = 0, three = 0, one = 0;
    for (int i = 0; i < n; ++i) {
      const float x = pa[t * n + i], y = pb[t * n + i];
      exact += double(x) * y;
      scale += std::fabs(double(x) * y);
      fp32 += x * y;
      const Tf32Split sx = tf32_split(x), sy = tf32_split(y);
      three += tf32_truncated(sx.small) * tf32_truncated(sy.big) +
               tf32_truncated(sx.big) * tf32_truncated(sy.small) +
               tf32_truncated(sx.big) * tf32_truncated(sy.big);
      one += tf32_truncated(sx.big) * tf32_truncated(sy.big);
    }
    err_fp32 = std::max(err_fp32, std::fabs(fp32 - exact) / scale);
    err_three = std::max(err_three, std::fabs(three - exact) / scale);
    err_one = std::max(err_one, std::fabs(one - exact) / scale);
  }
  INFO("relative errors: FP32 " << err_fp32 << ", 3xTF32 " << err_three << ", TF32 " << err_one);
  CHECK(err_three <= 2 * err_fp32);
  CHECK(err_one >= 20 * err_three);
  // The split is exact: big + small is x, and big has 11 significant bits.
  for (int i = 0; i < n; ++i) {
    const float x = pa[i];
    const Tf32Split s = tf32_split(x);
    REQUIRE(s.big + s.small == x);
    REQUIRE((float_bits(s.big) & 0x1fffu) == 0);
    REQUIRE(std::fabs(s.small) <= std::ldexp(std::fabs(x), -11));
  }
}
