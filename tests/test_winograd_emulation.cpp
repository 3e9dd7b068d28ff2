// The CUDA Winograd path (kernels/cuda/conv_winograd.h), run on the CPU: its transforms thread by
// thread and its batched products on the emulated mainloops (tests/support/conv_emulation.h),
// against the f64 path; and where it applies (conv::winograd_takes).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/backend.h"
#include "kernels/cuda/conv_winograd.h"
#include "tests/support/conv_emulation.h"
#include "tests/support/op_cases.h"
#include "tests/support/reference.h"

using namespace sire;
using namespace sire::cuda;
using namespace sire::cuda::conv;
using namespace sire::cuda::conv::emulation;

namespace {

// The CUDA Winograd path (conv_winograd.h) of one geometry, emulated: the transforms thread by
// thread, the 36 products as one emulated launch (blockIdx.z decoded into point and split as
// the kernels decode it: every tile shape, the FP32 and TF32 maps, unsplit and split), the output
// transform; the forward pass (with bias), the input gradient and the weight gradient against
// the f64 path, within the CPU Winograd test's tolerances (tests/test_reference.cpp). Every
// buffer starts as NaN, so a value no thread writes is caught.
void check_winograd(const ConvGeom& g) {
  INFO("Winograd: N" << g.N << " C" << g.C << " " << g.H << "x" << g.W << " K" << g.K);
  REQUIRE(winograd_takes(g, Winograd::kAlways));
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
      for (ConvTile tile : kConvTiles)
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

  // In chunks of samples (conv_winograd.cu, past the runtime's cap): every chunk on the same V and
  // M, written over by the next; budgets of one sample and of two (chunks of 2, 2, ..., and a short
  // last one where N is odd).
  for (const bool input_gradient : {false, true})
    for (const int64_t samples : {1, 2}) {
      const WinogradGeom all = winograd_geometry(g, input_gradient);
      const int64_t per_sample =
          int64_t{winograd::kPoints} * (all.in + all.out) * all.th * all.tw * 4;
      const int per = winograd_chunk_samples(all, samples * per_sample);
      INFO((input_gradient ? "input gradient" : "forward") << " in chunks of " << per);
      REQUIRE(per == std::min<int64_t>(samples, g.N));
      const WinogradGeom most = winograd_chunk(all, 0, per).g;
      std::vector<float> u(most.u_floats(), NAN), v(most.v_floats(), NAN), m(most.m_floats(), NAN);
      const WinogradWeight ww{w.data<float>(), u.data(), all.in, all.out, input_gradient};
      for (int64_t i = 0; i < ww.threads(); ++i) ww.run(i);
      const Tensor& in = input_gradient ? dy : x;
      const Tensor& ref = input_gradient ? dx_ref : y_ref;
      Tensor y = Tensor::full(ref.shape(), NAN);
      for (int n0 = 0; n0 < all.N; n0 += per) {
        const WinogradChunk c = winograd_chunk(all, n0, std::min(per, all.N - n0));
        const WinogradInput wi{in.data<float>() + c.in_offset, v.data(), c.g};
        for (int64_t i = 0; i < wi.threads(); ++i) wi.run(i);
        WinogradProduct p = WinogradProduct::make(c.g);
        p.u = u.data(), p.v = v.data(), p.m = m.data();
        emulate(p, forced_plan(p.M, p.Ncols, p.ktiles, ConvTile::k64x64, 1, p.batches()),
                Mode::kFP32);
        const WinogradOutput wo{m.data(), input_gradient ? nullptr : bias.data<float>(),
                                y.data<float>() + c.out_offset, c.g};
        for (int64_t i = 0; i < wo.threads(); ++i) wo.run(i);
      }
      const double t = 1e-5 * std::sqrt(static_cast<double>(all.in * 9)) * 4;
      CHECK(ref::mismatch(y, ref, t, t) <= 1.0);
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
    for (ConvTile tile : kConvTiles)
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

  // In chunks of one and two samples, each chunk's products added to dU (split too: the split
  // sums' store accumulates as the unsplit one does).
  for (const int samples : {1, 2})
    for (int splits : {1, 3}) {
      const int per = std::min<int>(samples, static_cast<int>(g.N));
      INFO("weight gradient in chunks of " << per << ", " << splits << " splits");
      const WinogradGeom most = winograd_chunk(wg, 0, per).g;
      std::vector<float> cv(most.v_floats(), NAN), cdm(most.m_floats(), NAN);
      std::fill(du.begin(), du.end(), NAN);
      for (int n0 = 0; n0 < wg.N; n0 += per) {
        const WinogradChunk c = winograd_chunk(wg, n0, std::min(per, wg.N - n0));
        const WinogradInput ci{x.data<float>() + c.in_offset, cv.data(), c.g};
        for (int64_t i = 0; i < ci.threads(); ++i) ci.run(i);
        const WinogradOutputGrad co{dy.data<float>() + c.out_offset, cdm.data(), c.g};
        for (int64_t i = 0; i < co.threads(); ++i) co.run(i);
        WinogradWeightProduct p = WinogradWeightProduct::make(c.g);
        p.dm = cdm.data(), p.v = cv.data(), p.du = du.data(), p.accumulate = n0 > 0;
        emulate(p, forced_plan(p.M, p.Ncols, p.ktiles, ConvTile::k64x64, splits, p.batches()),
                Mode::kFP32);
      }
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

TEST_CASE("the CUDA Winograd path cuts a batch into chunks whose V and M fit the budget",
          "[conv_emulation]") {
  const int64_t MiB = int64_t{1} << 20;
  // 64 channels of 32x32 planes at batch 64: 1,179,648 bytes of V and M a sample, 75 MB in all.
  const WinogradGeom big = winograd_geometry(conv_geom(64, 64, 32, 32, 64, 3, 1, 1), false);
  CHECK(winograd_chunk_samples(big, 0) == 64);         // no budget: the whole batch
  CHECK(winograd_chunk_samples(big, 30 * MiB) == 22);  // an H200's half L2: 26 fit, 22 22 20
  CHECK(winograd_chunk_samples(big, 25 * MiB) == 22);  // an H100's: 22 fit, 22 22 20
  CHECK(winograd_chunk_samples(big, 16 * MiB) == 13);  // 14 fit: 13 13 13 13 12
  CHECK(winograd_chunk_samples(big, 1) == 1);          // less than a sample: one at a time
  CHECK(winograd_chunk_samples(big, 200 * MiB) == 64);
  CHECK(winograd_chunk_samples(big, 256 * MiB) == 64);  // the default cap: SIRe-CNN's layers whole
  // 64 channels at 224x224 (a VGG layer; 57.8 MB a sample, 3.7 GB in all) under the default cap:
  // 4 fit, 16 chunks of 4.
  CHECK(winograd_chunk_samples(winograd_geometry(conv_geom(64, 64, 224, 224, 64, 3, 1, 1), false),
                               256 * MiB) == 4);
  // 128 channels at 16x16 (589,824 bytes a sample): two chunks; 512 at 4x4: none.
  CHECK(winograd_chunk_samples(winograd_geometry(conv_geom(64, 128, 16, 16, 128, 3, 1, 1), true),
                               30 * MiB) == 32);
  CHECK(winograd_chunk_samples(winograd_geometry(conv_geom(64, 512, 4, 4, 512, 3, 1, 1), false),
                               30 * MiB) == 64);
  // The input gradient swaps the channel roles; the bytes of a sample are the same.
  const WinogradGeom wide = winograd_geometry(conv_geom(8, 16, 8, 8, 48, 3, 1, 1), true);
  CHECK(wide.in == 48);
  CHECK(wide.out == 16);
  // Never more samples than the kernels' 32-bit indexing of V and M allows, budget or none:
  // 512 channels of 256x256 planes are 75.5 M floats of V a sample, so at most 28: 22 22 20.
  const WinogradGeom huge = winograd_geometry(conv_geom(64, 512, 256, 256, 512, 3, 1, 1), false);
  CHECK(winograd_chunk_samples(huge, 0) == 22);
  CHECK(winograd_chunk(huge, 0, 22).g.v_floats() < (int64_t{1} << 31));
  // A chunk starts where its samples do.
  const WinogradChunk c = winograd_chunk(big, 22, 22);
  CHECK(c.g.N == 22);
  CHECK(c.g.tiles() == 22 * 64);
  CHECK(c.in_offset == int64_t{22} * 64 * 32 * 32);
  CHECK(c.out_offset == int64_t{22} * 64 * 32 * 32);
}

TEST_CASE("the CUDA Winograd path takes 3x3 'same' stride-1 convolutions with enough channels",
          "[conv_emulation]") {
  const ConvGeom same = conv_geom(64, 64, 32, 32, 64, 3, 1, 1);
  CHECK(winograd_takes(same, Winograd::kAuto));
  CHECK(winograd_takes(same, Winograd::kAlways));
  CHECK_FALSE(winograd_takes(same, Winograd::kOff));
  CHECK_FALSE(winograd_takes(conv_geom(64, 32, 32, 32, 64, 3, 1, 1), Winograd::kAuto));
  CHECK(winograd_takes(conv_geom(64, 32, 32, 32, 64, 3, 1, 1), Winograd::kAlways));
  CHECK_FALSE(winograd_takes(conv_geom(64, 8, 32, 32, 64, 3, 1, 1), Winograd::kAlways));
  CHECK_FALSE(winograd_takes(conv_geom(64, 64, 32, 32, 64, 3, 2, 1), Winograd::kAlways));
  CHECK_FALSE(winograd_takes(conv_geom(64, 64, 32, 32, 64, 3, 1, 0), Winograd::kAlways));
  CHECK_FALSE(winograd_takes(conv_geom(64, 64, 32, 32, 64, 1, 1, 0), Winograd::kAlways));
  CHECK_FALSE(winograd_takes(conv_geom(64, 64, 2, 2, 64, 3, 1, 1), Winograd::kAlways));
  CHECK(winograd_takes(conv_geom(64, 512, 4, 4, 512, 3, 1, 1), Winograd::kAuto));
}
