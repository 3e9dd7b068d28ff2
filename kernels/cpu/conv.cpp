// Convolution on the CPU: im2col + GEMM.
//
// Samples are processed in groups: the im2col matrix of a group has one column per output pixel
// of every sample in it, [C R S, g P Q], so that deep layers with few pixels (4x4 at 512
// channels) still give the GEMM enough columns to run near peak. A group of one sample needs no
// packing: its GEMM writes straight into the NCHW output.
#include <algorithm>
#include <cstring>
#include <type_traits>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "kernels/cpu/conv_direct.h"
#include "kernels/cpu/conv_implicit.h"
#include "kernels/cpu/conv_wgrad.h"
#include "kernels/cpu/conv_winograd.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/parallel.h"

namespace sire::cpu {
namespace {

// Samples per group: enough for ~1024 GEMM columns, while the im2col buffer stays near 16 MB.
int64_t group_size(const ConvGeom& g) {
  const int64_t pq = std::max<int64_t>(g.pq(), 1);
  int64_t n = std::max<int64_t>(1, 1024 / pq);
  const int64_t cap = std::max<int64_t>(1, (int64_t{4} << 20) / std::max<int64_t>(g.crs() * pq, 1));
  return std::min({n, cap, g.N});
}

// A 1x1 convolution with stride 1 and no padding reads its input as the im2col matrix itself.
bool is_pointwise(const ConvGeom& g) {
  return g.R == 1 && g.S == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_h == 0 &&
         g.pad_w == 0;
}

// One output row of im2col at stride 1: dst[q] = src[q + w0] on [q_lo, q_hi), 0 elsewhere in
// [0, Q). Rows are short (32 floats in SIRe-CNN's first block), so loop overheads dominate a
// plain loop; 16-wide masked loads and stores do a row in a few instructions, and masked-off
// lanes never touch memory (w0 may point into the left padding).
template <class T>
inline void im2col_row(T* dst, const T* src, int64_t w0, int64_t q_lo, int64_t q_hi, int64_t Q) {
  for (int64_t q = 0; q < q_lo; ++q) dst[q] = T(0);
  for (int64_t q = q_lo; q < q_hi; ++q) dst[q] = src[q + w0];
  for (int64_t q = q_hi; q < Q; ++q) dst[q] = T(0);
}

#if defined(__AVX512F__)
template <>
inline void im2col_row<float>(float* dst, const float* src, int64_t w0, int64_t q_lo, int64_t q_hi,
                              int64_t Q) {
  for (int64_t q = 0; q < Q; q += 16) {
    const int64_t n = std::min<int64_t>(16, Q - q);
    const int64_t a = std::clamp<int64_t>(q_lo - q, 0, n), b = std::clamp<int64_t>(q_hi - q, 0, n);
    const auto valid = static_cast<__mmask16>(((1u << b) - 1u) & ~((1u << a) - 1u));
    const auto lanes = static_cast<__mmask16>((1u << n) - 1u);
    const __m512 v = _mm512_maskz_loadu_ps(valid, src + (q + w0));
    _mm512_mask_storeu_ps(dst + q, lanes, v);
  }
}
#endif

// col[(c R + r) S + s][j P Q + p Q + q] = x[j][c][p sh - ph + r][q sw - pw + s] (0 in the padding)
// for the `count` samples starting at x.
template <class T>
void im2col(const T* x, T* col, const ConvGeom& g, int64_t count) {
  const int64_t ld = count * g.pq(), hw = g.hw();
  parallel_for(0, g.crs(), 1, [&](int64_t lo, int64_t hi) {
    for (int64_t row = lo; row < hi; ++row) {
      const int64_t c = row / (g.R * g.S), r = (row / g.S) % g.R, s = row % g.S;
      int64_t q_lo, q_hi;
      conv_valid_out_range(s, g.stride_w, g.pad_w, g.W, g.Q, &q_lo, &q_hi);
      for (int64_t j = 0; j < count; ++j) {
        const T* plane = x + (j * g.C + c) * hw;
        T* dst = col + row * ld + j * g.pq();
        for (int64_t p = 0; p < g.P; ++p, dst += g.Q) {
          const int64_t h = conv_in_coord(p, r, g.stride_h, g.pad_h);
          if (h < 0 || h >= g.H) {
            for (int64_t q = 0; q < g.Q; ++q) dst[q] = T(0);
            continue;
          }
          const T* src = plane + h * g.W;
          const int64_t w0 = conv_in_coord(0, s, g.stride_w, g.pad_w);  // may be negative
          if (g.stride_w == 1) {
            im2col_row(dst, src, w0, q_lo, q_hi, g.Q);
            continue;
          }
          for (int64_t q = 0; q < q_lo; ++q) dst[q] = T(0);
          for (int64_t q = q_lo; q < q_hi; ++q) dst[q] = src[q * g.stride_w + w0];
          for (int64_t q = q_hi; q < g.Q; ++q) dst[q] = T(0);
        }
      }
    }
  });
}

// The adjoint of im2col: dx[j][c][h][w] += every col entry that im2col copied from there.
// Parallel over channels, so that each dx element is summed by one thread in a fixed order.
template <class T>
void col2im(const T* col, T* dx, const ConvGeom& g, int64_t count) {
  const int64_t ld = count * g.pq(), hw = g.hw();
  parallel_for(0, g.C, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t c = lo; c < hi; ++c) {
      for (int64_t r = 0; r < g.R; ++r) {
        for (int64_t s = 0; s < g.S; ++s) {
          const int64_t row = (c * g.R + r) * g.S + s;
          int64_t q_lo, q_hi;
          conv_valid_out_range(s, g.stride_w, g.pad_w, g.W, g.Q, &q_lo, &q_hi);
          for (int64_t j = 0; j < count; ++j) {
            T* plane = dx + (j * g.C + c) * hw;
            const T* src = col + row * ld + j * g.pq();
            for (int64_t p = 0; p < g.P; ++p, src += g.Q) {
              const int64_t h = conv_in_coord(p, r, g.stride_h, g.pad_h);
              if (h < 0 || h >= g.H) continue;
              T* dst = plane + h * g.W;
              const int64_t w0 = conv_in_coord(0, s, g.stride_w, g.pad_w);
              for (int64_t q = q_lo; q < q_hi; ++q) dst[q * g.stride_w + w0] += src[q];
            }
          }
        }
      }
    }
  });
}

// NCHW samples [count][rows][pq] <-> the group matrix [rows][count pq].
template <class T>
void pack_group(const T* nchw, T* mat, int64_t count, int64_t rows, int64_t pq) {
  parallel_for(0, rows, 4, [&](int64_t lo, int64_t hi) {
    for (int64_t k = lo; k < hi; ++k)
      for (int64_t j = 0; j < count; ++j)
        std::memcpy(mat + k * count * pq + j * pq, nchw + (j * rows + k) * pq, pq * sizeof(T));
  });
}

template <class T>
void unpack_group(const T* mat, T* nchw, int64_t count, int64_t rows, int64_t pq) {
  parallel_for(0, rows, 4, [&](int64_t lo, int64_t hi) {
    for (int64_t k = lo; k < hi; ++k)
      for (int64_t j = 0; j < count; ++j)
        std::memcpy(nchw + (j * rows + k) * pq, mat + k * count * pq + j * pq, pq * sizeof(T));
  });
}

template <class T>
T* scratch(int slot, int64_t elems) {
  return static_cast<T*>(workspace(slot, static_cast<size_t>(elems) * sizeof(T)));
}

// The fast float kernels (Winograd, direct, then implicit GEMM), if one takes this geometry.
// flip: w is the weight of the convolution whose input gradient this is; they read it flipped
// as they pack.
bool fast_conv_forward(const float* x, const float* w, float* y, const ConvGeom& g, bool flip) {
  if (winograd_conv_applies(g)) {
    winograd_conv_forward(x, w, y, g, flip);
    return true;
  }
  if (direct_conv_applies(g)) {
    direct_conv_forward(x, w, y, g, flip);
    return true;
  }
  if (implicit_conv_applies(g)) {
    implicit_conv_forward(x, w, y, g, flip);
    return true;
  }
  return false;
}

template <class T>
void conv_forward(const T* x, const T* w, T* y, const ConvGeom& g) {
  if constexpr (std::is_same_v<T, float>) {
    if (fast_conv_forward(x, w, y, g, false)) return;
  }
  const int64_t gs = group_size(g), crs = g.crs(), pq = g.pq();
  for (int64_t n0 = 0; n0 < g.N; n0 += gs) {
    const int64_t count = std::min(gs, g.N - n0);
    const T* xg = x + n0 * g.C * g.hw();
    T* yg = y + n0 * g.K * pq;
    const T* col = xg;
    if (!(is_pointwise(g) && count == 1)) {
      T* buf = scratch<T>(0, crs * count * pq);
      im2col(xg, buf, g, count);
      col = buf;
    }
    if (count == 1) {
      parallel_gemm<T>(false, false, g.K, pq, crs, T(1), w, crs, col, pq, T(0), yg, pq);
    } else {
      T* out = scratch<T>(1, g.K * count * pq);
      parallel_gemm<T>(false, false, g.K, count * pq, crs, T(1), w, crs, col, count * pq, T(0), out,
              count * pq);
      unpack_group(out, yg, count, g.K, pq);
    }
  }
}

// With stride 1, the gradient of a convolution with respect to its input is itself a
// convolution: of dy, padded by R-1-pad, with the kernel flipped and its channel roles swapped.
// Run that way it takes the forward path (im2col, then a GEMM whose reduction is K R S long)
// instead of a GEMM whose reduction is only K long followed by col2im's scattered additions:
// this is what makes a stride-1 transposed convolution as fast as a convolution.
// Too few input channels make the GEMM too thin (M = C), so those keep the col2im path.
ConvGeom flipped_geometry(const ConvGeom& g);

template <class T>
bool backward_data_as_conv(const ConvGeom& g) {
  if (g.stride_h != 1 || g.stride_w != 1 || g.pad_h > g.R - 1 || g.pad_w > g.S - 1) return false;
  // The direct kernel (float) also wins for a few output channels (a decoder's last layer).
  if constexpr (std::is_same_v<T, float>) {
    if (direct_conv_applies(flipped_geometry(g))) return true;
  }
  return g.C >= 16;
}

ConvGeom flipped_geometry(const ConvGeom& g) {
  ConvGeom f;
  f.N = g.N;
  f.C = g.K, f.H = g.P, f.W = g.Q;
  f.K = g.C, f.P = g.H, f.Q = g.W;
  f.R = g.R, f.S = g.S;
  f.pad_h = g.R - 1 - g.pad_h;
  f.pad_w = g.S - 1 - g.pad_w;
  return f;
}

template <class T>
void conv_forward(const T* x, const T* w, T* y, const ConvGeom& g);

template <class T>
void conv_backward_data(const T* dy, const T* w, T* dx, const ConvGeom& g) {
  if (backward_data_as_conv<T>(g)) {
    if constexpr (std::is_same_v<T, float>) {
      // The fast kernels pack the weights anyway: no flipped copy for them.
      if (fast_conv_forward(dy, w, dx, flipped_geometry(g), true)) return;
    }
    // wf[c][k][R-1-r][S-1-s] = w[k][c][r][s]
    T* wf = scratch<T>(2, g.K * g.crs());
    parallel_for(0, g.C, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t c = lo; c < hi; ++c)
        for (int64_t k = 0; k < g.K; ++k)
          for (int64_t r = 0; r < g.R; ++r)
            for (int64_t s = 0; s < g.S; ++s)
              wf[((c * g.K + k) * g.R + (g.R - 1 - r)) * g.S + (g.S - 1 - s)] =
                  w[((k * g.C + c) * g.R + r) * g.S + s];
    });
    conv_forward(dy, wf, dx, flipped_geometry(g));
    return;
  }
  const int64_t gs = group_size(g), crs = g.crs(), pq = g.pq();
  std::fill(dx, dx + g.N * g.C * g.hw(), T(0));
  for (int64_t n0 = 0; n0 < g.N; n0 += gs) {
    const int64_t count = std::min(gs, g.N - n0);
    const T* dyg = dy + n0 * g.K * pq;
    if (count > 1) {
      T* packed = scratch<T>(1, g.K * count * pq);
      pack_group(dyg, packed, count, g.K, pq);
      dyg = packed;
    }
    T* dxg = dx + n0 * g.C * g.hw();
    if (is_pointwise(g) && count == 1) {  // the column matrix is dx itself
      parallel_gemm<T>(true, false, crs, pq, g.K, T(1), w, crs, dyg, pq, T(0), dxg, pq);
      continue;
    }
    T* col = scratch<T>(0, crs * count * pq);
    parallel_gemm<T>(true, false, crs, count * pq, g.K, T(1), w, crs, dyg, count * pq, T(0), col,
            count * pq);
    col2im(col, dxg, g, count);
  }
}

template <class T>
void conv_backward_weight(const T* x, const T* dy, T* dw, const ConvGeom& g) {
  if constexpr (std::is_same_v<T, float>) {
    if (winograd_conv_applies(g)) return winograd_conv_weight_grad(x, dy, dw, g);
    if (plane_weight_grad_applies(g)) return plane_conv_weight_grad(x, dy, dw, g);
    if (direct_weight_grad_applies(g)) return direct_conv_weight_grad(x, dy, dw, g);
    if (implicit_weight_grad_applies(g)) return implicit_conv_weight_grad(x, dy, dw, g);
  }
  const int64_t gs = group_size(g), crs = g.crs(), pq = g.pq();
  for (int64_t n0 = 0; n0 < g.N; n0 += gs) {
    const int64_t count = std::min(gs, g.N - n0);
    const T* xg = x + n0 * g.C * g.hw();
    const T* dyg = dy + n0 * g.K * pq;
    const T* col = xg;
    if (!(is_pointwise(g) && count == 1)) {
      T* buf = scratch<T>(0, crs * count * pq);
      im2col(xg, buf, g, count);
      col = buf;
    }
    if (count > 1) {
      T* packed = scratch<T>(1, g.K * count * pq);
      pack_group(dyg, packed, count, g.K, pq);
      dyg = packed;
    }
    // Groups are summed in order, so dw does not depend on the number of threads.
    parallel_gemm<T>(false, true, g.K, crs, count * pq, T(1), dyg, count * pq, col, count * pq,
            n0 == 0 ? T(0) : T(1), dw, crs);
  }
  if (g.N == 0) std::fill(dw, dw + g.K * crs, T(0));
}

}  // namespace

void CpuBackend::conv2d_forward(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y,
                                const ConvGeom& g) {
  dispatch_float(x, "conv2d", [&](auto tag) {
    using T = decltype(tag);
    conv_forward(x.data<T>(), w.data<T>(), y.data<T>(), g);
  });
  if (bias) bias_add(y, *bias);
}

void CpuBackend::conv2d_backward_data(const Tensor& dy, const Tensor& w, Tensor& dx,
                                      const ConvGeom& g) {
  dispatch_float(dy, "conv2d_backward_data", [&](auto tag) {
    using T = decltype(tag);
    conv_backward_data(dy.data<T>(), w.data<T>(), dx.data<T>(), g);
  });
}

void CpuBackend::conv2d_backward_weight(const Tensor& x, const Tensor& dy, Tensor& dw,
                                        const ConvGeom& g) {
  dispatch_float(x, "conv2d_backward_weight", [&](auto tag) {
    using T = decltype(tag);
    conv_backward_weight(x.data<T>(), dy.data<T>(), dw.data<T>(), g);
  });
}

}  // namespace sire::cpu
