// The inverse index maps of kernels/common (which outputs read a given input), used by the
// gathering backward kernels of the GPU, against brute force over the forward maps.
#include <catch2/catch.hpp>

#include <random>

#include "kernels/common/conv_geometry.h"
#include "kernels/common/pool_geometry.h"
#include "kernels/common/winograd.h"
#include "kernels/cuda/channel_walk.h"

using namespace sire;

TEST_CASE("conv_out_coord inverts conv_in_coord", "[index]") {
  for (int64_t stride : {1, 2, 3})
    for (int64_t pad : {0, 1, 2})
      for (int64_t k : {1, 2, 3, 5})
        for (int64_t in = k; in <= 9; ++in) {
          if (in + 2 * pad < k) continue;
          const int64_t out = conv_out_size(in, k, stride, pad);
          for (int64_t x = 0; x < in; ++x)
            for (int64_t tap = 0; tap < k; ++tap) {
              int64_t expect = -1;
              for (int64_t o = 0; o < out; ++o)
                if (conv_in_coord(o, tap, stride, pad) == x) expect = o;
              int64_t got = -1;
              const bool found = conv_out_coord<int64_t>(x, tap, stride, pad, out, &got);
              INFO("in " << in << " k " << k << " s " << stride << " p " << pad << " x " << x
                         << " tap " << tap);
              CHECK(found == (expect >= 0));
              if (found) CHECK(got == expect);
              int g32 = -1;  // the 32-bit form the GPU runs
              CHECK(conv_out_coord<int>(int(x), int(tap), int(stride), int(pad), int(out), &g32) ==
                    found);
              if (found) CHECK(g32 == expect);
            }
        }
}

TEST_CASE("pool_out_range lists exactly the windows holding an input", "[index]") {
  for (bool ceil_mode : {false, true})
    for (int64_t k : {1, 2, 3})
      for (int64_t stride : {1, 2, 3})
        for (int64_t pad = 0; 2 * pad <= k; ++pad)
          for (int64_t in = k; in <= 10; ++in) {
            const int64_t out = pool_out_size(in, k, stride, pad, ceil_mode);
            for (int64_t x = 0; x < in; ++x) {
              int64_t lo, hi;
              pool_out_range(x, k, stride, pad, out, &lo, &hi);
              for (int64_t o = 0; o < out; ++o) {
                int64_t s, e;
                pool_window(o, k, stride, pad, in, &s, &e);
                INFO("in " << in << " k " << k << " s " << stride << " p " << pad << " x " << x
                           << " o " << o);
                CHECK((s <= x && x < e) == (lo <= o && o < hi));
              }
            }
          }
}

TEST_CASE("nearest_dest_range lists exactly the destinations of a source", "[index]") {
  for (int64_t in = 1; in <= 9; ++in)
    for (int64_t out = 1; out <= 19; ++out)
      for (int64_t src = 0; src < in; ++src) {
        int64_t lo, hi;
        nearest_dest_range(src, in, out, &lo, &hi);
        for (int64_t d = 0; d < out; ++d) {
          INFO("in " << in << " out " << out << " src " << src << " dst " << d);
          CHECK((nearest_source(d, in, out) == src) == (lo <= d && d < hi));
        }
      }
}

TEST_CASE("adaptive_out_range lists exactly the windows holding an input", "[index]") {
  for (int64_t in = 1; in <= 9; ++in)
    for (int64_t out = 1; out <= 11; ++out)
      for (int64_t x = 0; x < in; ++x) {
        int64_t lo, hi;
        adaptive_out_range(x, in, out, &lo, &hi);
        for (int64_t o = 0; o < out; ++o) {
          INFO("in " << in << " out " << out << " x " << x << " o " << o);
          CHECK((adaptive_start(o, in, out) <= x && x < adaptive_end(o, in, out)) ==
                (lo <= o && o < hi));
        }
      }
}

TEST_CASE("FlatWalk knows each value's channel as the divisions say", "[index]") {
  for (int inner : {1, 3, 4, 16, 255, 256, 1024})
    for (int C : {1, 3, 64, 513})
      for (int64_t stride : {int64_t{1}, int64_t{7}, int64_t{256}, int64_t{132} * 16 * 256}) {
        const int N = 3;
        const int64_t count = int64_t{N} * C * inner;
        for (int64_t start : {int64_t{0}, int64_t{5}, count / 2}) {
          if (start >= count) continue;
          cuda::FlatWalk walk(start, stride, C, inner);
          bool ok = true;
          for (int64_t j = start; j < count; j += stride, walk.advance())
            ok &= walk.c == (j / inner) % C && walk.i == j % inner;
          INFO("inner " << inner << " C " << C << " stride " << stride << " start " << start);
          CHECK(ok);
        }
      }
}

TEST_CASE("ChannelWalk steps through a channel as the divisions say", "[index]") {
  for (int inner : {1, 3, 16, 255, 256, 257, 1024})
    for (int stride : {1, 7, 256})
      for (int C : {1, 3}) {
        const int N = 5, c = C - 1;
        const int64_t count = int64_t{N} * inner;
        for (int64_t start : {int64_t{0}, int64_t{5}, count / 2}) {
          cuda::ChannelWalk walk(start, stride, C, c, inner);
          bool ok = true;
          for (int64_t j = start; j < count; j += stride, walk.advance())
            ok &= walk.offset() == ((j / inner) * C + c) * inner + j % inner;
          INFO("inner " << inner << " stride " << stride << " C " << C << " start " << start);
          CHECK(ok);
        }
      }
}

// F(4x4, 3x3) of kernels/common/winograd.h, in doubles: the output tile of the transforms is the
// 3x3 correlation of the 6x6 input tile, for random values (so a wrong entry of B, G or A shows).
TEST_CASE("Winograd F(4x4, 3x3) transforms compute the 3x3 correlation of a tile", "[index]") {
  std::mt19937 rng(5);
  std::uniform_real_distribution<double> uni(-1.0, 1.0);
  for (int trial = 0; trial < 20; ++trial) {
    double d[36], g[9], v[36], u[36], m[36], y[16];
    for (double& e : d) e = uni(rng);
    for (double& e : g) e = uni(rng);
    winograd::input_tile(d, v);
    winograd::weight_tile(g, u);
    for (int p = 0; p < 36; ++p) m[p] = u[p] * v[p];
    winograd::output_tile(m, y);
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 4; ++j) {
        double expect = 0.0;
        for (int r = 0; r < 3; ++r)
          for (int s = 0; s < 3; ++s) expect += d[(i + r) * 6 + j + s] * g[r * 3 + s];
        INFO("trial " << trial << " output (" << i << ", " << j << ")");
        CHECK(y[i * 4 + j] == Approx(expect).margin(1e-12));
      }
  }
}

// The weight gradient's transforms are the forward's transposed, and together they give the 3x3
// correlation's weight gradient: for a tile d and an output gradient dy (4x4),
// G^T [(A dy A^T) (.) (B^T d B)] G is dW[r][s] = sum over (i, j) of dy[i][j] d[i + r][j + s].
TEST_CASE("Winograd F(4x4, 3x3) gradient transforms give the 3x3 weight gradient", "[index]") {
  std::mt19937 rng(6);
  std::uniform_real_distribution<double> uni(-1.0, 1.0);
  for (int trial = 0; trial < 20; ++trial) {
    double d[36], dy[16], v[36], dm[36], du[36], dg[9];
    for (double& e : d) e = uni(rng);
    for (double& e : dy) e = uni(rng);
    winograd::input_tile(d, v);
    winograd::output_grad_tile(dy, dm);
    for (int p = 0; p < 36; ++p) du[p] = dm[p] * v[p];
    winograd::weight_grad_tile(du, dg);
    for (int r = 0; r < 3; ++r)
      for (int s = 0; s < 3; ++s) {
        double expect = 0.0;
        for (int i = 0; i < 4; ++i)
          for (int j = 0; j < 4; ++j) expect += dy[i * 4 + j] * d[(i + r) * 6 + j + s];
        INFO("trial " << trial << " tap (" << r << ", " << s << ")");
        CHECK(dg[r * 3 + s] == Approx(expect).margin(1e-12));
      }
  }
}
