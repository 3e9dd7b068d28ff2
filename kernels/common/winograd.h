// Winograd's minimal filtering F(4x4, 3x3) (Lavin and Gray, "Fast Algorithms for Convolutional
// Neural Networks", 2016), written once for any value type: a float, or a vector of lanes that
// all take the same transform (the CPU runs 16 channels at a time).
//
// A 3x3 stride-1 convolution is cut into 4x4 output tiles; each reads a 6x6 input tile. With
// d the input tile, g a 3x3 kernel and m the 6x6 products,
//   V = B^T d B,  U = G g G^T,  M = U (.) V (element-wise; summed over input channels),
//   Y = A^T M A   (the 4x4 output tile),
// which is 36 multiplications a tile and channel pair where the direct sum takes 144. Summed
// over channels, the 36 element-wise products are 36 independent matrix products, one a point
// of the 6x6 transform. The points are 0, +-1, +-2 and infinity; the matrices:
//        | 4  0 -5  0  1  0 |        | 1/4    0     0   |        | 1  1  1  1  1  0 |
//        | 0 -4 -4  1  1  0 |        | -1/6  -1/6  -1/6 |  A^T = | 0  1 -1  2 -2  0 |
//  B^T = | 0  4 -4 -1  1  0 |   G =  | -1/6   1/6  -1/6 |        | 0  1  1  4  4  0 |
//        | 0 -2 -1  2  1  0 |        | 1/24  1/12  1/6  |        | 0  1 -1  8 -8  1 |
//        | 0  2 -1 -2  1  0 |        | 1/24 -1/12  1/6  |
//        | 0  4  0 -5  0  1 |        | 0      0     1   |
// Each 2-D transform is the 1-D one on the columns, then on the rows.
#pragma once

#include <type_traits>

#include "kernels/common/conv_geometry.h"
#include "kernels/common/host_device.h"

namespace sire::winograd {

constexpr int kOut = 4;      // output tile side
constexpr int kIn = 6;       // input tile side (kOut + 3 - 1)
constexpr int kPoints = 36;  // kIn * kIn: products a tile and channel pair

// The geometries both backends' Winograd kernels take: 3x3 "same" (padding 1) at stride 1 (so
// also the input gradient of such a convolution, a forward of its flipped kernel), on planes the
// 4x4 tiles cover with at most 70% of the direct multiplications (2x2 planes and narrower are
// left to the direct kernels). Channel counts are each backend's to require.
inline bool fits_geometry(const ConvGeom& g) {
  if (g.R != 3 || g.S != 3 || g.stride_h != 1 || g.stride_w != 1 || g.pad_h != 1 || g.pad_w != 1 ||
      g.P != g.H || g.Q != g.W || g.H < 1 || g.W < 1)
    return false;
  const int64_t tiles = ((g.H + kOut - 1) / kOut) * ((g.W + kOut - 1) / kOut);
  return kPoints * tiles * 10 <= 7 * 9 * g.H * g.W;
}

// v = B^T d for one column (or row) of 6.
template <class T>
SIRE_HD void input_1d(const T* d, T* v) {
  const T a = d[4] - 4.0f * d[2], b = d[3] - 4.0f * d[1];  // shared by v1, v2
  const T c = d[4] - d[2], e = 2.0f * (d[3] - d[1]);       // shared by v3, v4
  v[0] = 4.0f * d[0] - 5.0f * d[2] + d[4];
  v[1] = a + b;
  v[2] = a - b;
  v[3] = c + e;
  v[4] = c - e;
  v[5] = 4.0f * d[1] - 5.0f * d[3] + d[5];
}

// u = G g for one column (or row) of 3. G's fractions in T's precision when T is double (the
// test of the algebra), else in float's.
template <class T>
SIRE_HD void weight_1d(const T* g, T* u) {
  using S = std::conditional_t<std::is_same_v<T, double>, double, float>;
  const T even = g[0] + g[2];
  u[0] = S(0.25) * g[0];
  u[1] = (S(-1) / 6) * (even + g[1]);
  u[2] = (S(-1) / 6) * (even - g[1]);
  const T p = (S(1) / 24) * g[0] + (S(1) / 6) * g[2], q = (S(1) / 12) * g[1];
  u[3] = p + q;
  u[4] = p - q;
  u[5] = g[2];
}

// y = A^T m for one column (or row) of 6.
template <class T>
SIRE_HD void output_1d(const T* m, T* y) {
  const T s12 = m[1] + m[2], d12 = m[1] - m[2], s34 = m[3] + m[4], d34 = m[3] - m[4];
  y[0] = m[0] + s12 + s34;
  y[1] = d12 + 2.0f * d34;
  y[2] = s12 + 4.0f * s34;
  y[3] = d12 + 8.0f * d34 + m[5];
}

// The weight gradient's transforms are the transposes of the forward's: with Y = A^T M A and
// M = U (.) V, dM = A dY A^T, dU = (sum over tiles of) dM (.) V, and dg = G^T dU G.
// dm (6) = A dy (4): the transpose of output_1d.
template <class T>
SIRE_HD void output_grad_1d(const T* dy, T* dm) {
  const T e1 = dy[0] + dy[2], o1 = dy[1] + dy[3];                       // the points +-1
  const T e2 = dy[0] + 4.0f * dy[2], o2 = 2.0f * dy[1] + 8.0f * dy[3];  // +-2
  dm[0] = dy[0];
  dm[1] = e1 + o1;
  dm[2] = e1 - o1;
  dm[3] = e2 + o2;
  dm[4] = e2 - o2;
  dm[5] = dy[3];
}

// dg (3) = G^T du (6): the transpose of weight_1d (G's fractions as there).
template <class T>
SIRE_HD void weight_grad_1d(const T* du, T* dg) {
  using S = std::conditional_t<std::is_same_v<T, double>, double, float>;
  const T s12 = du[1] + du[2], d12 = du[1] - du[2], s34 = du[3] + du[4], d34 = du[3] - du[4];
  dg[0] = S(0.25) * du[0] + (S(-1) / 6) * s12 + (S(1) / 24) * s34;
  dg[1] = (S(-1) / 6) * d12 + (S(1) / 12) * d34;
  dg[2] = (S(-1) / 6) * s12 + (S(1) / 6) * s34 + du[5];
}

// The 2-D transforms, on row-major tiles: out (M x M) = T in (N x N) T^T for the 1-D map T (N
// values to M) that f applies to one column, applied to the columns, then to the rows.
template <int N, int M, class T, class F>
SIRE_HD void separable(const T* in, T* out, F f) {
  T t[M * N], col[N], res[M];
  for (int j = 0; j < N; ++j) {
    for (int i = 0; i < N; ++i) col[i] = in[i * N + j];
    f(col, res);
    for (int i = 0; i < M; ++i) t[i * N + j] = res[i];
  }
  for (int i = 0; i < M; ++i) f(t + i * N, out + i * M);
}

// v (6x6) = B^T d (6x6) B.
template <class T>
SIRE_HD void input_tile(const T* d, T* v) {
  separable<kIn, kIn>(d, v, [](const T* a, T* b) { input_1d(a, b); });
}

// u (6x6) = G g (3x3) G^T.
template <class T>
SIRE_HD void weight_tile(const T* g, T* u) {
  separable<3, kIn>(g, u, [](const T* a, T* b) { weight_1d(a, b); });
}

// y (4x4) = A^T m (6x6) A.
template <class T>
SIRE_HD void output_tile(const T* m, T* y) {
  separable<kIn, kOut>(m, y, [](const T* a, T* b) { output_1d(a, b); });
}

// dm (6x6) = A dy (4x4) A^T.
template <class T>
SIRE_HD void output_grad_tile(const T* dy, T* dm) {
  separable<kOut, kIn>(dy, dm, [](const T* a, T* b) { output_grad_1d(a, b); });
}

// dg (3x3) = G^T du (6x6) G.
template <class T>
SIRE_HD void weight_grad_tile(const T* du, T* dg) {
  separable<kIn, 3>(du, dg, [](const T* a, T* b) { weight_grad_1d(a, b); });
}

}  // namespace sire::winograd
