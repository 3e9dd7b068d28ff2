#include <catch2/catch.hpp>

#include "engine/backend.h"
#include "engine/random.h"
#include "engine/tensor.h"
#include "kernels/common/philox.h"

#include <algorithm>
#include <cmath>

using namespace sire;

// Known-answer vectors of Philox4x32-10 from the Random123 distribution (kat_vectors).
TEST_CASE("philox4x32-10 known answers", "[random]") {
  Philox4 a = philox4x32(0, 0, 0);
  CHECK(a.v[0] == 0x6627e8d5u);
  CHECK(a.v[1] == 0xe169c58du);
  CHECK(a.v[2] == 0xbc57ac4cu);
  CHECK(a.v[3] == 0x9b00dbd8u);
  Philox4 b = philox4x32(~uint64_t{0}, ~uint64_t{0}, ~uint64_t{0});
  CHECK(b.v[0] == 0x408f276du);
  CHECK(b.v[1] == 0x41c83b0eu);
  CHECK(b.v[2] == 0xa20bc7c6u);
  CHECK(b.v[3] == 0x6d5451fdu);
  // counter (243f6a88 85a308d3 13198a2e 03707344), key (a4093822 299f31d0)
  Philox4 c = philox4x32(0x299f31d0a4093822ull, 0x85a308d3243f6a88ull, 0x0370734413198a2eull);
  CHECK(c.v[0] == 0xd16cfe09u);
  CHECK(c.v[1] == 0x94fdccebu);
  CHECK(c.v[2] == 0x5001e420u);
  CHECK(c.v[3] == 0x24126ea1u);
}

TEST_CASE("generators are reproducible and streams independent", "[random]") {
  Generator g1(7), g2(7);
  Tensor a = Tensor::empty({100}), b = Tensor::empty({100});
  g1.fill_uniform(a, -1, 1);
  g2.fill_uniform(b, -1, 1);
  CHECK(a.to_vector() == b.to_vector());
  g1.fill_uniform(a, -1, 1);  // next stream: different numbers
  CHECK(a.to_vector() != b.to_vector());
  for (double v : a.to_vector()) CHECK((v >= -1 && v < 1));

  Tensor n = Tensor::empty({20000}, DType::F64);
  Generator(3).fill_normal(n, 2.0, 0.5);
  double mean = 0, var = 0;
  for (double v : n.to_vector()) mean += v / 20000;
  for (double v : n.to_vector()) var += (v - mean) * (v - mean) / 20000;
  CHECK(mean == Catch::Detail::Approx(2.0).margin(0.02));
  CHECK(std::sqrt(var) == Catch::Detail::Approx(0.5).margin(0.02));

  auto p = Generator(1).permutation(50);
  std::vector<int64_t> sorted = p;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 50; ++i) CHECK(sorted[i] == i);
  CHECK(p != sorted);
}

// The CPU's dropout evaluates Philox once per group of four elements; element i must still use
// word i % 4 of counter i / 4 (philox_uniform), which the GPU's kernel uses too.
TEST_CASE("dropout's mask is philox_uniform's, element by element", "[random]") {
  const int64_t n = 4 * 9000 + 3;  // several threads' ranges and a last group of three
  std::vector<float> values(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) values[i] = 1.0f + static_cast<float>(i % 7);
  const Tensor x = Tensor::from_vector({n}, values);
  Tensor y = Tensor::empty({n});
  const double p = 0.3;
  const uint64_t seed = 0x1234abcdull, stream = 77;
  backend_for(Device::CPU).dropout_forward(x, y, p, seed, stream);
  const std::vector<double> out = y.to_vector();
  int64_t wrong = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float u = philox_uniform(seed, stream, static_cast<uint64_t>(i));
    const bool keep = u >= static_cast<float>(p);
    const float expected = keep ? values[i] * static_cast<float>(1.0 / (1.0 - p)) : 0.0f;
    wrong += static_cast<float>(out[i]) != expected;
  }
  CHECK(wrong == 0);
}
