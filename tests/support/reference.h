// Plain loops, written straight from the definitions, that the fast kernels are checked
// against. Double precision, CPU tensors of any float dtype in, f64 tensor out.
#pragma once

#include "engine/tensor.h"

namespace sire::ref {

// y[n][k][p][q] = b[k] + sum_{c,r,s} x[n][c][p s - pad + r][q s - pad + s'] w[k][c][r][s']
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor* bias, int64_t stride, int64_t pad);
// Every input pixel scatters its kernel-weighted copy into the output (the definition of a
// transposed convolution), then the padding is cropped.
Tensor conv_transpose2d(const Tensor& x, const Tensor& w, const Tensor* bias, int64_t stride,
                        int64_t pad, int64_t output_pad);
Tensor max_pool2d(const Tensor& x, int64_t kernel, int64_t stride, int64_t pad, bool ceil_mode);
Tensor upsample_nearest2d(const Tensor& x, int64_t out_h, int64_t out_w);

// Largest |a - b| / (atol + rtol |b|) over all elements: <= 1 means a matches b.
double mismatch(const Tensor& a, const Tensor& b, double rtol, double atol);

}  // namespace sire::ref
