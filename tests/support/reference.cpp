#include "tests/support/reference.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace sire::ref {
namespace {

std::vector<double> values(const Tensor& t) { return t.to(Device::CPU).to_vector(); }

}  // namespace

Tensor conv2d(const Tensor& xt, const Tensor& wt, const Tensor* bt, int64_t st, int64_t pad) {
  const auto x = values(xt), w = values(wt);
  const std::vector<double> b = bt ? values(*bt) : std::vector<double>();
  const int64_t N = xt.size(0), C = xt.size(1), H = xt.size(2), W = xt.size(3);
  const int64_t K = wt.size(0), R = wt.size(2), S = wt.size(3);
  const int64_t P = (H + 2 * pad - R) / st + 1, Q = (W + 2 * pad - S) / st + 1;
  std::vector<double> y(N * K * P * Q);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t p = 0; p < P; ++p)
        for (int64_t q = 0; q < Q; ++q) {
          double s = b.empty() ? 0.0 : b[k];
          for (int64_t c = 0; c < C; ++c)
            for (int64_t r = 0; r < R; ++r)
              for (int64_t u = 0; u < S; ++u) {
                const int64_t h = p * st - pad + r, v = q * st - pad + u;
                if (h < 0 || h >= H || v < 0 || v >= W) continue;
                s += x[((n * C + c) * H + h) * W + v] * w[((k * C + c) * R + r) * S + u];
              }
          y[((n * K + k) * P + p) * Q + q] = s;
        }
  return Tensor::from_vector({N, K, P, Q}, y, DType::F64);
}

Tensor conv_transpose2d(const Tensor& xt, const Tensor& wt, const Tensor* bt, int64_t st,
                        int64_t pad, int64_t opad) {
  const auto x = values(xt), w = values(wt);
  const std::vector<double> b = bt ? values(*bt) : std::vector<double>();
  const int64_t N = xt.size(0), Ci = xt.size(1), H = xt.size(2), W = xt.size(3);
  const int64_t Co = wt.size(1), R = wt.size(2), S = wt.size(3);
  // Full (uncropped) output, then crop `pad` from the top/left; output_padding extends the
  // bottom/right.
  const int64_t OH = (H - 1) * st - 2 * pad + R + opad, OW = (W - 1) * st - 2 * pad + S + opad;
  std::vector<double> y(N * Co * OH * OW, 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t ci = 0; ci < Ci; ++ci)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t v = 0; v < W; ++v) {
          const double xv = x[((n * Ci + ci) * H + h) * W + v];
          for (int64_t co = 0; co < Co; ++co)
            for (int64_t r = 0; r < R; ++r)
              for (int64_t u = 0; u < S; ++u) {
                const int64_t oh = h * st + r - pad, ow = v * st + u - pad;
                if (oh < 0 || oh >= OH || ow < 0 || ow >= OW) continue;
                y[((n * Co + co) * OH + oh) * OW + ow] += xv * w[((ci * Co + co) * R + r) * S + u];
              }
        }
  if (!b.empty())
    for (int64_t n = 0; n < N; ++n)
      for (int64_t co = 0; co < Co; ++co)
        for (int64_t i = 0; i < OH * OW; ++i) y[(n * Co + co) * OH * OW + i] += b[co];
  return Tensor::from_vector({N, Co, OH, OW}, y, DType::F64);
}

Tensor max_pool2d(const Tensor& xt, int64_t k, int64_t st, int64_t pad, bool ceil_mode) {
  const auto x = values(xt);
  const int64_t N = xt.size(0), C = xt.size(1), H = xt.size(2), W = xt.size(3);
  auto out_size = [&](int64_t in) {
    const double span = static_cast<double>(in + 2 * pad - k) / st;
    int64_t o = static_cast<int64_t>(ceil_mode ? std::ceil(span) : std::floor(span)) + 1;
    if (ceil_mode && (o - 1) * st >= in + pad) --o;
    return o;
  };
  const int64_t P = out_size(H), Q = out_size(W);
  std::vector<double> y(N * C * P * Q);
  for (int64_t nc = 0; nc < N * C; ++nc)
    for (int64_t p = 0; p < P; ++p)
      for (int64_t q = 0; q < Q; ++q) {
        double m = -std::numeric_limits<double>::infinity();
        for (int64_t h = p * st - pad; h < p * st - pad + k; ++h)
          for (int64_t v = q * st - pad; v < q * st - pad + k; ++v)
            if (h >= 0 && h < H && v >= 0 && v < W) m = std::max(m, x[(nc * H + h) * W + v]);
        y[(nc * P + p) * Q + q] = m;
      }
  return Tensor::from_vector({N, C, P, Q}, y, DType::F64);
}

Tensor upsample_nearest2d(const Tensor& xt, int64_t OH, int64_t OW) {
  const auto x = values(xt);
  const int64_t N = xt.size(0), C = xt.size(1), H = xt.size(2), W = xt.size(3);
  std::vector<double> y(N * C * OH * OW);
  for (int64_t nc = 0; nc < N * C; ++nc)
    for (int64_t i = 0; i < OH; ++i)
      for (int64_t j = 0; j < OW; ++j) {
        // PyTorch's definition: source = floor(dst * in / out).
        const int64_t h = static_cast<int64_t>(std::floor(static_cast<double>(i) * H / OH));
        const int64_t v = static_cast<int64_t>(std::floor(static_cast<double>(j) * W / OW));
        y[(nc * OH + i) * OW + j] = x[(nc * H + h) * W + v];
      }
  return Tensor::from_vector({N, C, OH, OW}, y, DType::F64);
}

double mismatch(const Tensor& at, const Tensor& bt, double rtol, double atol) {
  SIRE_CHECK(at.shape() == bt.shape(), "mismatch: shapes ", at.shape(), " and ", bt.shape());
  const auto a = values(at), b = values(bt);
  double worst = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double e = std::fabs(a[i] - b[i]) / (atol + rtol * std::fabs(b[i]));
    if (std::isnan(e)) return std::numeric_limits<double>::infinity();
    worst = std::max(worst, e);
  }
  return worst;
}

}  // namespace sire::ref
