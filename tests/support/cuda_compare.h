// How the CUDA tests compare GPU results with the CPU's (tests/test_cuda_ops.cpp and the files of
// the same executable): tolerances by math, a norm-wise error, and a guard that sets the GPU math
// for one scope. Catch2 messages inside: include it from tests only.
#pragma once

#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "engine/tensor.h"
#include "kernels/cuda/runtime.h"
#include "tests/support/reference.h"

namespace sire::testing::gpu {

// ||a - b|| / ||b||; infinite if a holds a NaN.
inline double relative_l2(const Tensor& a, const Tensor& b) {
  const std::vector<double> x = a.to_vector(), y = b.to_vector();
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < x.size(); ++i) {
    if (std::isnan(x[i])) return INFINITY;
    num += (x[i] - y[i]) * (x[i] - y[i]);
    den += y[i] * y[i];
  }
  return den == 0.0 ? (num == 0.0 ? 0.0 : INFINITY) : std::sqrt(num / den);
}

// FP32: element-wise, a little looser than the f32-vs-f64 test of the CPU (both sides round
// here). TF32: operands keep 10 mantissa bits (relative error ~5e-4 a product), so a norm-wise
// bound, as is usual for tensor-core math.
struct Tolerance {
  double rtol, atol;  // FP32: |gpu - cpu| <= atol + rtol |cpu| element-wise
  double l2;          // TF32: relative_l2 <= l2
};
constexpr Tolerance kFp32Forward{2e-4, 2e-5, 0}, kFp32Backward{2e-3, 2e-4, 0};
constexpr Tolerance kTf32{0, 0, 5e-3};

inline bool close(const Tensor& gpu, const Tensor& cpu, const Tolerance& t) {
  const Tensor host = gpu.to(Device::CPU);
  if (t.l2 > 0) {
    const double e = relative_l2(host, cpu);
    UNSCOPED_INFO("relative L2 error " << e << " (bound " << t.l2 << ")");
    return e <= t.l2;
  }
  const double m = ref::mismatch(host, cpu, t.rtol, t.atol);
  UNSCOPED_INFO("worst error / tolerance " << m);
  return m <= 1.0;
}

struct MathGuard {
  explicit MathGuard(cuda::Math m) : before(cuda::math()) { cuda::set_math(m); }
  ~MathGuard() { cuda::set_math(before); }
  cuda::Math before;
};

}  // namespace sire::testing::gpu
