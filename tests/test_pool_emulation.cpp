// The CUDA 2x2 max-pooling kernels (kernels/cuda/pool2x2.h) and the 2x upsampling by pairs
// (kernels/cuda/upsample2x.h), run on the CPU thread by thread, against the CPU backend: the same
// outputs, indices and gradients, bit for bit (ties and NaNs in the pooling windows); and which
// poolings they take.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <vector>

#include "engine/backend.h"
#include "kernels/cuda/pool2x2.h"
#include "kernels/cuda/upsample2x.h"
#include "tests/support/op_cases.h"

using namespace sire;
using namespace sire::cuda;

namespace {

PoolGeom pool_2x2(int64_t N, int64_t C, int64_t H, int64_t W) {
  PoolGeom g;
  g.N = N, g.C = C, g.H = H, g.W = W;
  g.P = pool_out_size(H, 2, 2, 0, false);
  g.Q = pool_out_size(W, 2, 2, 0, false);
  return g;
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.nbytes() == b.nbytes() && std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

}  // namespace

TEST_CASE("the CUDA 2x2 max-pooling kernels, emulated, match the CPU bit for bit",
          "[conv_emulation]") {
  for (const PoolGeom& g : {pool_2x2(2, 3, 4, 6), pool_2x2(1, 1, 2, 2), pool_2x2(3, 5, 8, 8),
                            pool_2x2(2, 4, 32, 32), pool_2x2(1, 2, 6, 2)}) {
    INFO("N" << g.N << " C" << g.C << " " << g.H << "x" << g.W);
    REQUIRE(pool2x2_takes(g));
    // Values on a coarse grid (ties in most windows), a few NaNs, and -0 beside +0.
    Tensor x = testing::random_tensor({g.N, g.C, g.H, g.W}, DType::F32, 51);
    float* px = x.data<float>();
    for (int64_t i = 0; i < x.numel(); ++i) {
      px[i] = std::round(px[i] * 2.0f) / 2.0f;
      if (i % 13 == 5 || i % 29 == 8 || i % 29 == 9) px[i] = NAN;  // some windows hold two
      if (i % 17 == 3) px[i] = -0.0f;
    }
    const Shape out{g.N, g.C, g.P, g.Q};
    Tensor y_cpu = Tensor::empty(out), idx_cpu = Tensor::empty(out, DType::I32);
    cpu_backend().max_pool2d_forward(x, y_cpu, idx_cpu, g);
    Tensor y = Tensor::full(out, NAN), idx = Tensor::full(out, -7.0, DType::I32);
    const MaxPool2x2Forward fwd{px, y.data<float>(), idx.data<int32_t>(), static_cast<int>(g.P),
                                static_cast<int>(g.W)};
    for (int64_t o = 0; o < y.numel(); ++o) fwd.run(o);
    CHECK(same_bits(y, y_cpu));
    CHECK(idx.to_vector() == idx_cpu.to_vector());

    // The gradient, with -0 and NaN among dy's values too.
    Tensor dy = testing::random_tensor(out, DType::F32, 52);
    dy.data<float>()[0] = -0.0f;
    if (dy.numel() > 3) dy.data<float>()[3] = NAN;
    Tensor dx_cpu = Tensor::empty(x.shape());
    cpu_backend().max_pool2d_backward(dy, idx_cpu, dx_cpu, g);
    Tensor dx = Tensor::full(x.shape(), NAN);
    const MaxPool2x2Backward bwd{dy.data<float>(), idx.data<int32_t>(), dx.data<float>(),
                                 static_cast<int>(g.P), static_cast<int>(g.W)};
    for (int64_t o = 0; o < dy.numel(); ++o) bwd.run(o);
    CHECK(same_bits(dx, dx_cpu));
  }
}

TEST_CASE("the CUDA 2x2 max-pooling kernels take 2x2 windows at stride 2 over even planes",
          "[conv_emulation]") {
  CHECK(pool2x2_takes(pool_2x2(64, 64, 32, 32)));
  CHECK(pool2x2_takes(pool_2x2(64, 512, 4, 4)));
  CHECK_FALSE(pool2x2_takes(pool_2x2(2, 3, 5, 6)));  // an odd height: the last row is left out
  CHECK_FALSE(pool2x2_takes(pool_2x2(2, 3, 6, 7)));
  PoolGeom padded = pool_2x2(2, 3, 6, 6);
  padded.ph = padded.pw = 1;
  padded.P = padded.Q = 4;
  CHECK_FALSE(pool2x2_takes(padded));
  PoolGeom overlapping = pool_2x2(2, 3, 6, 6);
  overlapping.sh = overlapping.sw = 1;
  overlapping.P = overlapping.Q = 5;
  CHECK_FALSE(pool2x2_takes(overlapping));
  PoolGeom three = pool_2x2(2, 3, 6, 6);
  three.kh = three.kw = 3;
  CHECK_FALSE(pool2x2_takes(three));
}

TEST_CASE("the CUDA 2x upsampling by pairs, emulated, matches the CPU bit for bit",
          "[conv_emulation]") {
  // Planes of even width: square, wide, one row, and the SIRe decoders' 2x2 -> 4x4.
  for (const Shape& shape : {Shape{2, 3, 4, 6}, Shape{1, 2, 3, 8}, Shape{3, 1, 1, 2},
                             Shape{2, 5, 2, 2}, Shape{2, 4, 16, 16}}) {
    INFO("x " << shape);
    const Tensor x = testing::random_tensor(shape, DType::F32, 61);
    const Shape big{shape[0], shape[1], 2 * shape[2], 2 * shape[3]};
    const Tensor add = testing::random_tensor(big, DType::F32, 62);
    const int W = static_cast<int>(shape[3]);
    for (const bool with_add : {false, true}) {
      INFO((with_add ? "with add" : "plain"));
      Tensor y_cpu = Tensor::empty(big);
      cpu_backend().upsample_nearest2d_forward(x, y_cpu, with_add ? &add : nullptr);
      Tensor y = Tensor::full(big, NAN);
      const Upsample2xForward fwd{x.data<float>(), with_add ? add.data<float>() : nullptr,
                                  y.data<float>(), W};
      for (int64_t j = 0; j < x.numel() / 2; ++j) fwd.run(j);
      CHECK(same_bits(y, y_cpu));
    }
    const Tensor dy = testing::random_tensor(big, DType::F32, 63);
    Tensor dx_cpu = Tensor::empty(shape);
    cpu_backend().upsample_nearest2d_backward(dy, dx_cpu);
    Tensor dx = Tensor::full(shape, NAN);
    const Upsample2xBackward bwd{dy.data<float>(), dx.data<float>(), W};
    for (int64_t j = 0; j < x.numel() / 2; ++j) bwd.run(j);
    CHECK(same_bits(dx, dx_cpu));
  }
}
