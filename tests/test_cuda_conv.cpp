// The CUDA convolutions' accuracy on the hardware, against f64: 3xTF32 next to FP32 and TF32 at a
// long reduction, and the Winograd path (kernels/cuda/conv_winograd.cu) in each math. Part of
// test_cuda_ops (skipped without a GPU).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/ops.h"
#include "kernels/cuda/runtime.h"
#include "tests/support/cuda_compare.h"
#include "tests/support/op_cases.h"
#include "tests/support/reference.h"

using namespace sire;
using namespace sire::testing::gpu;
using testing::random_tensor;

namespace {
struct WinogradGuard {
  explicit WinogradGuard(cuda::Winograd w) : before(cuda::conv_winograd()) {
    cuda::set_conv_winograd(w);
  }
  ~WinogradGuard() { cuda::set_conv_winograd(before); }
  cuda::Winograd before;
};
struct ChunkGuard {  // Winograd's cap on V and M, which cuts a batch into chunks (runtime.h)
  explicit ChunkGuard(int64_t bytes) { cuda::set_winograd_chunk_bytes(bytes); }
  ~ChunkGuard() { cuda::set_winograd_chunk_bytes(-1); }
};
}  // namespace

// On the hardware, and through the dispatch: at a reduction as long as SIRe-CNN's longest (512
// channels x 3 x 3), 3xTF32 is about as close to an f64 reference as FP32, TF32 far further; and
// 3xTF32 is not FP32 run under another name (its bits differ). The implicit GEMM's: Winograd,
// which would take this convolution by default, has its own test below.
TEST_CASE("3xTF32 convolutions are FP32-accurate on the tensor cores", "[tf32]") {
  WinogradGuard implicit_gemm(cuda::Winograd::kOff);
  const Tensor x = random_tensor({2, 512, 6, 6}, DType::F32, 31);
  const Tensor w = random_tensor({64, 512, 3, 3}, DType::F32, 32);
  const Tensor b = random_tensor({64}, DType::F32, 33);
  const Tensor ref = ops::conv2d(Variable(x.to(DType::F64)), Variable(w.to(DType::F64)),
                                 Variable(b.to(DType::F64)), 1, 1)
                         .data();
  auto run = [&](cuda::Math m) {
    MathGuard guard(m);
    return ops::conv2d(Variable(x.to(Device::CUDA)), Variable(w.to(Device::CUDA)),
                       Variable(b.to(Device::CUDA)), 1, 1)
        .data()
        .to(Device::CPU);
  };
  const Tensor fp32 = run(cuda::Math::kFP32), tf32 = run(cuda::Math::kTF32),
               three = run(cuda::Math::kTF32x3);
  const double e_fp32 = relative_l2(fp32, ref), e_tf32 = relative_l2(tf32, ref),
               e_three = relative_l2(three, ref);
  // Printed always: the numbers for docs/cuda.md. The bound leaves room for the tensor cores'
  // accumulation, which is FP32 but reported to truncate rather than round.
  WARN("relative L2 error against f64, K = 4608: FP32 " << e_fp32 << ", TF32 " << e_tf32
                                                        << ", 3xTF32 " << e_three);
  CHECK(e_three <= std::max(10 * e_fp32, 1e-6));
  CHECK(e_tf32 >= 10 * e_three);
  CHECK(three.to_vector() != fp32.to_vector());
}

// Winograd F(4x4, 3x3) on the GPU (conv_winograd.cu) against the f64 path, within the CPU
// Winograd test's tolerances (tests/test_reference.cpp): a convolution's forward (with bias),
// input gradient and weight gradient, and a transposed convolution's (the same kernels). Partial
// tiles (7x9), channel counts off the 8-deep step, SIRe-CNN's 4x4 and 16x16 levels, a weight
// gradient the plan splits. And Winograd did run: its bits differ from the implicit GEMM's. Also
// the batch in chunks of one sample, and its products in 3xTF32 and TF32.
TEST_CASE("Winograd convolutions agree with the f64 path", "[quick]") {
  MathGuard fp32(cuda::Math::kFP32);
  struct G {
    int64_t N, C, H, W, K;
    bool transposed;
  };
  for (G g : {G{2, 17, 7, 9, 20, false}, G{4, 64, 16, 16, 64, false}, G{2, 512, 4, 4, 512, false},
              G{3, 16, 5, 6, 130, false}, G{4, 64, 8, 8, 32, true}}) {
    INFO((g.transposed ? "conv_transpose2d" : "conv2d")
         << " N" << g.N << " C" << g.C << " " << g.H << "x" << g.W << " K" << g.K);
    const Tensor x = random_tensor({g.N, g.C, g.H, g.W}, DType::F32, 41);
    const Tensor w = random_tensor(g.transposed ? Shape{g.C, g.K, 3, 3} : Shape{g.K, g.C, 3, 3},
                                   DType::F32, 42, 0.3);
    const Tensor b = random_tensor({g.K}, DType::F32, 43);
    const Tensor dy = random_tensor({g.N, g.K, g.H, g.W}, DType::F32, 44);
    // y, dx, dw on `device` in `dt`.
    auto run = [&](Device device, DType dt) {
      Variable xv(x.to(dt).to(device), true), wv(w.to(dt).to(device), true),
          bv(b.to(dt).to(device), true);
      Variable y =
          g.transposed ? ops::conv_transpose2d(xv, wv, bv, 1, 1, 0) : ops::conv2d(xv, wv, bv, 1, 1);
      y.backward(dy.to(dt).to(device));
      return std::vector<Tensor>{y.data().to(Device::CPU), xv.grad().to(Device::CPU),
                                 wv.grad().to(Device::CPU)};
    };
    const std::vector<Tensor> ref = run(Device::CPU, DType::F64);
    std::vector<Tensor> gpu, implicit;
    {
      WinogradGuard always(cuda::Winograd::kAlways);
      gpu = run(Device::CUDA, DType::F32);
    }
    {
      WinogradGuard off(cuda::Winograd::kOff);
      implicit = run(Device::CUDA, DType::F32);
    }
    // The reductions: y's over x's channels (C), dx's over dy's (K), either way round.
    const int64_t y_in = g.C, dx_in = g.K;
    const double ty = 1e-5 * std::sqrt(static_cast<double>(y_in * 9)) * 4;
    const double tx = 1e-5 * std::sqrt(static_cast<double>(dx_in * 9)) * 4;
    const double tw = 1e-5 * std::sqrt(static_cast<double>(g.N * g.H * g.W)) * 4;
    CHECK(ref::mismatch(gpu[0], ref[0], ty, ty) <= 1.0);
    CHECK(ref::mismatch(gpu[1], ref[1], tx, tx) <= 1.0);
    CHECK(ref::mismatch(gpu[2], ref[2], tw, tw) <= 1.0);
    UNSCOPED_INFO("worst error / tolerance: y " << ref::mismatch(gpu[0], ref[0], ty, ty) << ", dx "
                                                << ref::mismatch(gpu[1], ref[1], tx, tx));
    CHECK(gpu[0].to_vector() != implicit[0].to_vector());
    CHECK(gpu[1].to_vector() != implicit[1].to_vector());
    CHECK(gpu[2].to_vector() != implicit[2].to_vector());
    // The batch one sample at a time on the same V and M (the chunks of conv_winograd.cu, which a
    // batch's V and M beyond the runtime's cap take): within the same bounds.
    {
      WinogradGuard always(cuda::Winograd::kAlways);
      ChunkGuard one_sample(1);
      const std::vector<Tensor> chunked = run(Device::CUDA, DType::F32);
      CHECK(ref::mismatch(chunked[0], ref[0], ty, ty) <= 1.0);
      CHECK(ref::mismatch(chunked[1], ref[1], tx, tx) <= 1.0);
      CHECK(ref::mismatch(chunked[2], ref[2], tw, tw) <= 1.0);
    }
    // The products on the tensor cores (what the default runs in those maths from 64 channels):
    // 3xTF32 within FP32 Winograd's bounds (twice them). TF32 rounds the transformed operands,
    // which the output transform's cancellations amplify: held to TF32's own norm-wise bound,
    // the one the implicit GEMM's TF32 tests use (an H200 measured 2.5e-3..3.8e-3 against its
    // 5e-3), and printed for docs/cuda.md.
    WinogradGuard always(cuda::Winograd::kAlways);
    std::vector<Tensor> three, tf32;
    {
      MathGuard m(cuda::Math::kTF32x3);
      three = run(Device::CUDA, DType::F32);
    }
    {
      MathGuard m(cuda::Math::kTF32);
      tf32 = run(Device::CUDA, DType::F32);
    }
    CHECK(ref::mismatch(three[0], ref[0], 2 * ty, 2 * ty) <= 1.0);
    CHECK(ref::mismatch(three[1], ref[1], 2 * tx, 2 * tx) <= 1.0);
    CHECK(ref::mismatch(three[2], ref[2], 2 * tw, 2 * tw) <= 1.0);
    for (int i = 0; i < 3; ++i) {
      INFO("TF32, output " << i);
      const double e = relative_l2(tf32[i], ref[i]);
      WARN("Winograd in TF32, output " << i << " (y, dx, dw): relative L2 error " << e);
      CHECK(e <= kTf32.l2);
    }
  }
}
