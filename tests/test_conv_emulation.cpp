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
#include "tests/support/conv_emulation.h"
#include "tests/support/op_cases.h"
#include "tests/support/reference.h"

using namespace sire;
using namespace sire::cuda;
using namespace sire::cuda::conv;
using namespace sire::cuda::conv::emulation;

namespace {

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
    for (ConvTile tile : kConvTiles)
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

}  // namespace

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
