#include "engine/random.h"

#include <cmath>
#include <numeric>

#include "kernels/common/philox.h"

namespace sire {
namespace {

// Writes f(i) (a double) into every element of t, going through the host for GPU tensors.
template <class F>
void fill_with(Tensor& t, const F& f) {
  Tensor host = t.device() == Device::CPU ? t : Tensor::empty(t.shape(), t.dtype(), Device::CPU);
  const int64_t n = host.numel();
  // Each element depends only on its index (counter-based numbers): any thread may draw it.
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) {
    const double v = f(static_cast<uint64_t>(i));
    switch (host.dtype()) {
      case DType::F32: host.data<float>()[i] = static_cast<float>(v); break;
      case DType::F64: host.data<double>()[i] = v; break;
      case DType::I32: host.data<int32_t>()[i] = static_cast<int32_t>(v); break;
    }
  }
  if (t.device() != Device::CPU) t.copy_from(host);
}

// A double in [0, 1) from two 32-bit words (53 random bits).
double unit_double(uint32_t a, uint32_t b) {
  const uint64_t bits = (static_cast<uint64_t>(a) << 21) ^ (b >> 11);
  return static_cast<double>(bits & ((uint64_t{1} << 53) - 1)) * (1.0 / 9007199254740992.0);
}

}  // namespace

void Generator::fill_uniform(Tensor& t, double lo, double hi) {
  const uint64_t s = next_stream();
  fill_with(t, [&](uint64_t i) {
    Philox4 r = philox4x32(seed_, i, s);
    return lo + (hi - lo) * unit_double(r.v[0], r.v[1]);
  });
}

void Generator::fill_normal(Tensor& t, double mean, double stddev) {
  const uint64_t s = next_stream();
  fill_with(t, [&](uint64_t i) {  // Box-Muller on two uniforms of one Philox evaluation
    Philox4 r = philox4x32(seed_, i, s);
    const double u1 = 1.0 - unit_double(r.v[0], r.v[1]), u2 = unit_double(r.v[2], r.v[3]);
    return mean + stddev * std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
  });
}

double Generator::uniform() {
  Philox4 r = philox4x32(seed_, 0, next_stream());
  return unit_double(r.v[0], r.v[1]);
}

std::vector<int64_t> Generator::permutation(int64_t n) {
  std::vector<int64_t> p(static_cast<size_t>(n));
  std::iota(p.begin(), p.end(), 0);
  const uint64_t s = next_stream();
  for (int64_t i = n - 1; i > 0; --i) {  // Fisher-Yates
    Philox4 r = philox4x32(seed_, static_cast<uint64_t>(i), s);
    const int64_t j = static_cast<int64_t>(unit_double(r.v[0], r.v[1]) * static_cast<double>(i + 1));
    std::swap(p[i], p[std::min(j, i)]);
  }
  return p;
}

Generator& default_generator() {
  static Generator g(0);
  return g;
}

void manual_seed(uint64_t seed) { default_generator().set_state(seed, 0); }

}  // namespace sire
