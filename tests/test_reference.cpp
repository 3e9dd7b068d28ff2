// The fast CPU kernels (im2col + GEMM, grouped samples) against plain loops.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>

#include "engine/backend.h"
#include "engine/ops.h"
#include "kernels/cpu/conv_winograd.h"
#include "tests/support/op_cases.h"
#include "tests/support/reference.h"

using namespace sire;
using testing::random_tensor;

namespace {
// f32 kernels against the f64 loops: float rounding of a sum of `terms` products of N(0, 1)
// values grows like sqrt(terms).
double tol(DType t, int64_t terms) {
  return (t == DType::F32 ? 2e-6 : 1e-14) * std::sqrt(static_cast<double>(terms)) * 4;
}

// Sets which convolutions Winograd takes for one test and restores the setting after it. The
// reference-loop tests hold the direct and implicit-GEMM kernels to their tight tolerance with
// it off; Winograd, which rounds 10-20x more, has its own test below against the f64 path.
struct WinogradSetting {
  cpu::WinogradUse before = cpu::winograd_use();
  explicit WinogradSetting(cpu::WinogradUse use) { cpu::set_winograd_use(use); }
  ~WinogradSetting() { cpu::set_winograd_use(before); }
  WinogradSetting(const WinogradSetting&) = delete;
  WinogradSetting& operator=(const WinogradSetting&) = delete;
};
}  // namespace

TEST_CASE("conv2d forward matches the reference loops", "[reference]") {
  const WinogradSetting direct(cpu::WinogradUse::kOff);
  struct G { int64_t N, C, H, W, K, k, s, p; };
  for (DType dt : {DType::F32, DType::F64})
    for (G g : {G{2, 3, 7, 7, 4, 3, 1, 1}, G{3, 5, 9, 8, 6, 3, 2, 0}, G{2, 4, 6, 5, 3, 3, 2, 2},
                G{2, 16, 17, 17, 8, 3, 1, 1}, G{1, 3, 33, 31, 4, 3, 1, 1},
                G{70, 8, 4, 4, 16, 3, 1, 1}, G{3, 8, 6, 6, 5, 1, 1, 0}, G{2, 3, 32, 32, 2, 1, 1, 0},
                G{2, 3, 11, 11, 4, 5, 2, 2}, G{1, 2, 5, 5, 3, 5, 1, 0}}) {
      INFO("N" << g.N << " C" << g.C << " " << g.H << "x" << g.W << " K" << g.K << " k" << g.k
                << " s" << g.s << " p" << g.p << " " << dtype_name(dt));
      Tensor x = random_tensor({g.N, g.C, g.H, g.W}, dt, 1), w = random_tensor({g.K, g.C, g.k, g.k}, dt, 2),
             b = random_tensor({g.K}, dt, 3);
      Tensor y = ops::conv2d(Variable(x), Variable(w), Variable(b), g.s, g.p).data();
      const double t = tol(dt, g.C * g.k * g.k);
      CHECK(ref::mismatch(y, ref::conv2d(x, w, &b, g.s, g.p), t, t) <= 1.0);
    }
}

TEST_CASE("conv_transpose2d forward matches the reference loops", "[reference]") {
  const WinogradSetting direct(cpu::WinogradUse::kOff);
  struct G { int64_t N, Ci, H, W, Co, k, s, p, op; };
  for (DType dt : {DType::F32, DType::F64})
    for (G g : {G{2, 3, 4, 5, 2, 3, 1, 1, 0}, G{2, 4, 5, 5, 3, 3, 2, 1, 1}, G{1, 3, 3, 4, 2, 3, 2, 0, 0},
                G{2, 2, 4, 4, 3, 4, 2, 1, 0}, G{1, 2, 3, 3, 2, 5, 2, 2, 1}, G{3, 16, 16, 16, 8, 3, 1, 1, 0},
                G{70, 16, 4, 4, 8, 3, 1, 1, 0}, G{2, 8, 32, 32, 3, 3, 1, 1, 0}, G{2, 5, 6, 6, 4, 1, 1, 0, 0},
                G{2, 4, 9, 9, 16, 3, 1, 1, 0}, G{2, 8, 6, 7, 20, 3, 1, 0, 0}, G{1, 4, 5, 5, 16, 5, 1, 2, 0},
                G{2, 64, 32, 32, 64, 3, 1, 1, 0}}) {
      INFO("N" << g.N << " Ci" << g.Ci << " " << g.H << "x" << g.W << " Co" << g.Co << " k" << g.k
                << " s" << g.s << " p" << g.p << " op" << g.op << " " << dtype_name(dt));
      Tensor x = random_tensor({g.N, g.Ci, g.H, g.W}, dt, 4),
             w = random_tensor({g.Ci, g.Co, g.k, g.k}, dt, 5), b = random_tensor({g.Co}, dt, 6);
      Tensor y = ops::conv_transpose2d(Variable(x), Variable(w), Variable(b), g.s, g.p, g.op).data();
      const double t = tol(dt, g.Ci * g.k * g.k);
      CHECK(ref::mismatch(y, ref::conv_transpose2d(x, w, &b, g.s, g.p, g.op), t, t) <= 1.0);
    }
}

TEST_CASE("max_pool2d and upsample forward match the reference loops", "[reference]") {
  struct P { int64_t N, C, H, W, k, s, p; bool ceil; };
  for (P g : {P{2, 3, 8, 8, 2, 2, 0, false}, P{2, 3, 7, 7, 2, 2, 0, false}, P{1, 2, 9, 8, 3, 2, 1, false},
              P{2, 2, 7, 9, 3, 2, 1, true}, P{1, 1, 6, 6, 3, 2, 0, true}, P{2, 2, 5, 5, 3, 1, 1, false}}) {
    INFO("pool " << g.H << "x" << g.W << " k" << g.k << " s" << g.s << " p" << g.p << " ceil " << g.ceil);
    Tensor x = random_tensor({g.N, g.C, g.H, g.W}, DType::F32, 7);
    Tensor y = ops::max_pool2d(Variable(x), g.k, g.s, g.p, g.ceil).data();
    CHECK(ref::mismatch(y, ref::max_pool2d(x, g.k, g.s, g.p, g.ceil), 0, 1e-30) <= 1.0);
  }
  struct U { int64_t H, W, OH, OW; };
  for (U u : {U{4, 4, 8, 8}, U{3, 5, 7, 9}, U{7, 7, 14, 14}, U{5, 4, 3, 2}, U{2, 2, 5, 5}}) {
    INFO("upsample " << u.H << "x" << u.W << " -> " << u.OH << "x" << u.OW);
    Tensor x = random_tensor({2, 3, u.H, u.W}, DType::F32, 8);
    Tensor y = ops::upsample_nearest2d(Variable(x), u.OH, u.OW).data();
    CHECK(ref::mismatch(y, ref::upsample_nearest2d(x, u.OH, u.OW), 0, 1e-30) <= 1.0);
  }
}

TEST_CASE("f32 and f64 paths agree on every op", "[reference]") {
  // The f32 kernels (sgemm, float loops) against the f64 ones (dgemm) on the whole op table,
  // forward and every input gradient.
  const auto c32 = testing::op_cases(DType::F32), c64 = testing::op_cases(DType::F64);
  REQUIRE(c32.size() == c64.size());
  for (size_t i = 0; i < c32.size(); ++i) {
    INFO(c32[i].name);
    std::vector<Variable> v32, v64;
    for (const Tensor& t : c32[i].inputs) v32.emplace_back(t, t.dtype() != DType::I32);
    for (const Tensor& t : c64[i].inputs) v64.emplace_back(t, t.dtype() != DType::I32);
    // Same random values up to f32 rounding: feed the f64 run the f32 values.
    for (size_t j = 0; j < v64.size(); ++j)
      if (c32[i].inputs[j].dtype() == DType::F32)
        v64[j] = Variable(c32[i].inputs[j].to(DType::F64), true);
    Variable y32 = c32[i].run(v32), y64 = c64[i].run(v64);
    CHECK(ref::mismatch(y32.data(), y64.data(), 1e-4, 1e-5) <= 1.0);
    Tensor g = random_tensor(y32.shape(), DType::F32, 11);
    y32.backward(g);
    y64.backward(g.to(DType::F64));
    for (size_t j = 0; j < v32.size(); ++j) {
      if (!v32[j].requires_grad()) continue;
      INFO("gradient of input " << j);
      CHECK(ref::mismatch(v32[j].grad(), v64[j].grad(), 1e-3, 1e-4) <= 1.0);
    }
  }
}

// The direct (padded-plane, AVX-512) kernels take large stride-1 planes in f32, the
// implicit-GEMM kernel the small ones; the f64 path is im2col + GEMM. Forward, input gradient
// and weight gradient must agree, at plane sizes on both sides of the direct kernels' thresholds,
// odd sizes, every padding a 3x3 kernel allows, and 1 to 4 output (or input) channels.
TEST_CASE("direct f32 convolutions agree with the f64 GEMM path", "[reference]") {
  const WinogradSetting direct(cpu::WinogradUse::kOff);
  struct G { int64_t N, C, H, W, K, k, p; };
  for (G g : {G{2, 5, 32, 32, 7, 3, 1}, G{3, 4, 33, 35, 9, 3, 0}, G{2, 3, 24, 27, 10, 3, 2},
              G{2, 17, 16, 16, 12, 3, 1}, G{1, 6, 31, 29, 3, 5, 2}, G{2, 8, 40, 40, 1, 3, 1},
              G{2, 16, 32, 32, 16, 1, 0},
              // 3x3 "same" with W a multiple of 16 (shifted-copies forward and input gradient,
              // plane weight gradient): 2-channel tiles, three vectors a row, several blocks of
              // samples (9 samples, 7 a block).
              G{2, 3, 16, 48, 8, 3, 1}, G{9, 64, 32, 32, 5, 3, 1}, G{3, 1, 8, 16, 4, 3, 1},
              // ... every channel's copies in one shared buffer (7 and 3 channels; blocks of
              // 10 and 2 samples), and groups of 2 channels, the last cut short (45 channels,
              // blocks of 7 and 2 samples).
              G{4, 7, 32, 32, 10, 3, 1}, G{12, 3, 32, 32, 4, 3, 1}, G{9, 45, 32, 32, 5, 3, 1},
              // The shifted-copies forward with a last tile past the plane's end (80 positions).
              G{2, 6, 5, 16, 3, 3, 1}, G{2, 6, 5, 16, 9, 3, 1},
              // At most 4 output channels: the few-channel tile (and as input gradients, C <= 4).
              G{2, 6, 20, 19, 2, 3, 1}, G{1, 5, 17, 70, 4, 3, 1}, G{2, 2, 18, 18, 5, 3, 1},
              // ... at the decoders' last shape (3 x 128 tiles, the next sample prefetched) and
              // with 4 channels (4 x 96) on a plane the tile width does not divide.
              G{5, 64, 32, 32, 3, 3, 1}, G{3, 5, 32, 16, 4, 3, 1},
              // Small planes: the implicit-GEMM path (16 or more output channels).
              G{3, 5, 8, 8, 16, 3, 1}, G{5, 7, 4, 4, 24, 3, 1}, G{2, 9, 7, 5, 17, 3, 0},
              G{3, 4, 6, 6, 32, 5, 2}, G{7, 12, 3, 3, 16, 1, 0}, G{1, 3, 2, 2, 40, 3, 2}}) {
    INFO("N" << g.N << " C" << g.C << " " << g.H << "x" << g.W << " K" << g.K << " k" << g.k << " p" << g.p);
    Tensor x = random_tensor({g.N, g.C, g.H, g.W}, DType::F32, 21);
    Tensor w = random_tensor({g.K, g.C, g.k, g.k}, DType::F32, 22, 0.3);
    auto run = [&](DType dt, std::vector<Tensor>& grads) {
      Variable xv(x.to(dt), true), wv(w.to(dt), true);
      Variable y = ops::conv2d(xv, wv, Variable(), 1, g.p);
      Tensor gy = random_tensor(y.shape(), DType::F32, 23).to(dt);
      y.backward(gy);
      grads = {xv.grad(), wv.grad()};
      return y.data();
    };
    std::vector<Tensor> g32, g64;
    Tensor y32 = run(DType::F32, g32), y64 = run(DType::F64, g64);
    const double t = 1e-5 * std::sqrt(static_cast<double>(g.C * g.k * g.k)) * 4;
    CHECK(ref::mismatch(y32, y64, t, t) <= 1.0);
    CHECK(ref::mismatch(g32[0], g64[0], t, t) <= 1.0);
    const double tw = 1e-5 * std::sqrt(static_cast<double>(g.N * g.H * g.W)) * 4;
    CHECK(ref::mismatch(g32[1], g64[1], tw, tw) <= 1.0);
  }
}

// The vectorized 2x2 pool (16 outputs at a time, f32) against the scalar f64 path: values,
// which input wins (through the gradient), ties (the first in window order) and NaNs (they win).
// Wide planes run along rows; W = 16, 8, 4, 2 along chained rows, the outputs past the last
// 16 of a plane (10x16, 40x2) and planes of fewer than 16 outputs (4x4, 6x8) by the scalar loop.
TEST_CASE("vectorized 2x2 max-pool matches the scalar path, ties and NaNs included", "[reference]") {
  struct S { int64_t H, W; };
  for (S sh : {S{32, 40}, S{16, 16}, S{8, 8}, S{32, 4}, S{40, 2}, S{4, 4}, S{2, 2}, S{10, 16}, S{6, 8}}) {
    INFO(sh.H << "x" << sh.W);
    Tensor x = random_tensor({4, 5, sh.H, sh.W}, DType::F32, 31);
    float* p = x.data<float>();
    for (int64_t i = 0; i < x.numel(); i += 3) p[i] = std::round(p[i]);  // many exact ties
    p[5 % x.numel()] = std::nanf("");
    p[(sh.W * 3 + 1) % x.numel()] = std::nanf("");
    auto run = [&](DType dt, Tensor& grad) {
      Variable v(x.to(dt), true);
      Variable y = ops::max_pool2d(v, 2, 2);
      y.backward(random_tensor(y.shape(), DType::F32, 32).to(dt));
      grad = v.grad();
      return y.data();
    };
    Tensor g32, g64;
    const Tensor y32 = run(DType::F32, g32), y64 = run(DType::F64, g64);
    const auto a = y32.to_vector(), b = y64.to_vector();
    REQUIRE(a.size() == b.size());
    int64_t nans = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      INFO("output " << i);
      if (std::isnan(b[i])) {
        ++nans;
        CHECK(std::isnan(a[i]));
      } else {
        CHECK(a[i] == b[i]);
      }
    }
    CHECK(nans >= 1);
    CHECK(ref::mismatch(g32, g64, 1e-6, 1e-6) <= 1.0);  // the same winners
  }
}

TEST_CASE("implicit-GEMM f32 convolutions with stride 2 agree with the f64 path", "[reference]") {
  struct G { int64_t N, C, H, W, K, k, p; };
  for (G g : {G{3, 5, 9, 9, 16, 3, 1}, G{2, 4, 8, 7, 24, 3, 0}, G{2, 3, 12, 12, 20, 7, 3},
              G{4, 16, 5, 5, 16, 1, 0}}) {
    INFO("N" << g.N << " C" << g.C << " " << g.H << "x" << g.W << " K" << g.K << " k" << g.k << " p" << g.p);
    Tensor x = random_tensor({g.N, g.C, g.H, g.W}, DType::F32, 41);
    Tensor w = random_tensor({g.K, g.C, g.k, g.k}, DType::F32, 42, 0.3);
    Tensor y32 = ops::conv2d(Variable(x), Variable(w), Variable(), 2, g.p).data();
    Tensor y64 = ops::conv2d(Variable(x.to(DType::F64)), Variable(w.to(DType::F64)), Variable(), 2, g.p).data();
    const double t = 1e-5 * std::sqrt(static_cast<double>(g.C * g.k * g.k)) * 4;
    CHECK(ref::mismatch(y32, y64, t, t) <= 1.0);
  }
}

// Winograd F(4x4, 3x3) (3x3 "same", 16 or more channels each side) against the f64 path, forward,
// input gradient (the flipped kernel) and weight gradient: planes the 4x4 tiles cover exactly and
// with partial tiles (7x9, 3x3, 5x6, 18x20), channel counts that are not whole vectors (17, 33,
// 20) or panels (80: one of 64 output channels and one of 16), the forward's schedules (by
// thread, with groups of samples and samples cut into several jobs; by block from 256 input
// channels, with two blocks of five samples and two jobs of tiles a block), outputs written four
// tiles at a time (rows of 16 pixels) beside single tiles (18x20: a fifth tile column and a
// partial tile row) and outputs of 4 MiB, streamed past the caches, as are transformed weights
// of 9 MiB (256 channels each side); the weight gradient's
// schedules (by block below 8 samples; by thread from 8, in slices of 1-4 samples, chunks of a
// whole sample, of two (18x20) or of rows (36x36: 8 rows, then 1), dU whole or cut in parts of
// 64 channels: 128 input channels in two, 80 x 96 in four, the last ones partly zero, and in 8
// or 9 parts, each job then writing its part of dW), and register tiles of fewer than 6 tiles.
// The tolerances are the direct kernels' test's: the worst element came to 0.006-0.2 of them in
// the forward, 0.02-0.31 in the weight gradient (the direct kernels:
// 0.002-0.014).
TEST_CASE("Winograd f32 convolutions agree with the f64 path", "[reference]") {
  const WinogradSetting always(cpu::WinogradUse::kAlways);  // by default: 64 channels and up
  struct G {
    int64_t N, C, H, W, K;
  };
  for (G g :
       {G{2, 16, 8, 8, 16}, G{3, 17, 7, 9, 33}, G{2, 64, 32, 32, 64}, G{5, 32, 4, 4, 20},
        G{2, 16, 3, 3, 16}, G{3, 24, 5, 6, 16}, G{9, 128, 32, 32, 16}, G{4, 512, 4, 4, 32},
        G{10, 256, 16, 16, 80}, G{10, 32, 18, 20, 48}, G{16, 16, 32, 32, 64}, G{8, 16, 7, 9, 16},
        G{8, 16, 36, 36, 16}, G{2, 256, 4, 4, 256}, G{8, 80, 8, 8, 96}, G{8, 192, 8, 8, 160}}) {
    INFO("N" << g.N << " C" << g.C << " " << g.H << "x" << g.W << " K" << g.K);
    ConvGeom geom;
    geom.N = g.N, geom.C = g.C, geom.H = g.H, geom.W = g.W, geom.K = g.K;
    geom.R = geom.S = 3, geom.pad_h = geom.pad_w = 1, geom.P = g.H, geom.Q = g.W;
    REQUIRE(cpu::winograd_conv_applies(geom));  // so that this test cannot pass without it
    ConvGeom flipped = geom;                    // the input gradient's: channel roles swapped
    std::swap(flipped.C, flipped.K);
    REQUIRE(cpu::winograd_conv_applies(flipped));
    Tensor x = random_tensor({g.N, g.C, g.H, g.W}, DType::F32, 51);
    Tensor w = random_tensor({g.K, g.C, 3, 3}, DType::F32, 52, 0.3);
    auto run = [&](DType dt, Tensor* dx, Tensor* dw) {
      Variable xv(x.to(dt), true), wv(w.to(dt), true);
      Variable y = ops::conv2d(xv, wv, Variable(), 1, 1);
      y.backward(random_tensor(y.shape(), DType::F32, 53).to(dt));
      *dx = xv.grad();
      *dw = wv.grad();
      return y.data();
    };
    Tensor dx32, dx64, dw32, dw64;
    Tensor y32 = run(DType::F32, &dx32, &dw32), y64 = run(DType::F64, &dx64, &dw64);
    const double t = 1e-5 * std::sqrt(static_cast<double>(g.C * 9)) * 4;
    CHECK(ref::mismatch(y32, y64, t, t) <= 1.0);
    const double td = 1e-5 * std::sqrt(static_cast<double>(g.K * 9)) * 4;
    CHECK(ref::mismatch(dx32, dx64, td, td) <= 1.0);
    const double tw = 1e-5 * std::sqrt(static_cast<double>(g.N * g.H * g.W)) * 4;
    CHECK(ref::mismatch(dw32, dw64, tw, tw) <= 1.0);
    UNSCOPED_INFO("worst error / tolerance: forward " << ref::mismatch(y32, y64, t, t)
                                                      << ", weight gradient "
                                                      << ref::mismatch(dw32, dw64, tw, tw));
  }
}

// Winograd's sums are split by geometry only (the weight gradient's slices and parts, blocks of
// samples), never by thread: one thread and three give the same bits in every pass, under each
// schedule (forward by thread and by block; weight gradient by thread in 1 or 8 slices, and by
// block).
TEST_CASE("Winograd convolutions give the same bits on any number of threads", "[reference]") {
  const WinogradSetting always(cpu::WinogradUse::kAlways);
  const int before = cpu_threads();
  struct G {
    int64_t N, C, H, W, K;
  };
  for (G g : {G{16, 64, 16, 16, 64}, G{8, 256, 8, 8, 96}, G{4, 32, 12, 12, 48}}) {
    INFO("N" << g.N << " C" << g.C << " " << g.H << "x" << g.W << " K" << g.K);
    Tensor x = random_tensor({g.N, g.C, g.H, g.W}, DType::F32, 61);
    Tensor w = random_tensor({g.K, g.C, 3, 3}, DType::F32, 62, 0.3);
    Tensor dy = random_tensor({g.N, g.K, g.H, g.W}, DType::F32, 63);
    auto run = [&](int threads, Tensor* dx, Tensor* dw) {
      set_cpu_threads(threads);
      Variable xv(x, true), wv(w, true);
      Variable y = ops::conv2d(xv, wv, Variable(), 1, 1);
      y.backward(dy);
      *dx = xv.grad();
      *dw = wv.grad();
      return y.data();
    };
    auto same_bits = [](const Tensor& a, const Tensor& b) {
      return a.shape() == b.shape() &&
             std::memcmp(a.data<float>(), b.data<float>(),
                         static_cast<size_t>(a.numel()) * sizeof(float)) == 0;
    };
    Tensor dx1, dw1, dx3, dw3;
    Tensor y1 = run(1, &dx1, &dw1), y3 = run(3, &dx3, &dw3);
    CHECK(same_bits(y1, y3));
    CHECK(same_bits(dx1, dx3));
    CHECK(same_bits(dw1, dw3));
  }
  set_cpu_threads(before);
}
