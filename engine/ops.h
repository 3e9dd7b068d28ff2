// The differentiable ops. Each checks its inputs (a bad shape raises sire::Error naming the op
// and the shapes), allocates its output, runs the kernel of the inputs' device, and records how
// to compute its inputs' gradients (see engine/autograd). Optional inputs (a bias) are passed as
// an undefined Variable().
#pragma once

#include <cstdint>
#include <vector>

#include "engine/autograd/node.h"
#include "engine/autograd/variable.h"

namespace sire::ops {

// Convolution: x [N, C, H, W], w [K, C, R, S], bias [K] -> [N, K, P, Q].
Variable conv2d(const Variable& x, const Variable& w, const Variable& bias, int64_t stride = 1,
                int64_t padding = 0);
// Transposed convolution: x [N, Cin, H, W], w [Cin, Cout, R, S] (PyTorch's layout), bias [Cout]
// -> [N, Cout, (H - 1) stride - 2 padding + R + output_padding, ...].
Variable conv_transpose2d(const Variable& x, const Variable& w, const Variable& bias,
                          int64_t stride = 1, int64_t padding = 0, int64_t output_padding = 0);

Variable max_pool2d(const Variable& x, int64_t kernel, int64_t stride, int64_t padding = 0,
                    bool ceil_mode = false);
// Nearest-neighbour resize to an explicit size, or by an integer scale.
Variable upsample_nearest2d(const Variable& x, int64_t out_h, int64_t out_w);
Variable upsample_nearest2d(const Variable& x, int64_t scale);
// x resized to add's height and width, + add, in one pass: a skip connection summed as the
// output is written (no upsampled tensor in between); the gradient of `add` is the output's.
Variable upsample_nearest2d_add(const Variable& x, const Variable& add);
Variable adaptive_avg_pool2d(const Variable& x, int64_t out_h, int64_t out_w);

// Batch normalization over channel dimension 1 of an [N, C, ...] input. In training it
// normalizes with the batch statistics and, when given, updates the running ones
// (running = (1 - momentum) running + momentum batch, the variance unbiased); in evaluation it
// uses the running statistics.
// With `relu`, the output is max(0, batch_norm(x)) computed in one pass each way.
Variable batch_norm(const Variable& x, const Variable& gamma, const Variable& beta,
                    Tensor* running_mean, Tensor* running_var, bool training, double momentum,
                    double eps, bool relu = false);
// max(0, batch_norm(x)) + add in one pass (a skip connection after a fused ReLU); the backward
// pass is batch_norm's with relu, and the gradient of `add` is the output's.
Variable batch_norm_relu_add(const Variable& x, const Variable& gamma, const Variable& beta,
                             Tensor* running_mean, Tensor* running_var, bool training,
                             double momentum, double eps, const Variable& add);
// max(0, batch_norm(x) + add) in one pass (a residual summed before the ReLU); the backward pass
// masks the gradient where the output is zero, which is also the gradient of `add`. `add` may
// have fewer channels than x (a shortcut widened by zero channels, without the zeros stored).
Variable batch_norm_add_relu(const Variable& x, const Variable& gamma, const Variable& beta,
                             Tensor* running_mean, Tensor* running_var, bool training,
                             double momentum, double eps, const Variable& add);

// y = x w^T + bias: x [N, I], w [O, I], bias [O].
Variable linear(const Variable& x, const Variable& w, const Variable& bias);

Variable relu(const Variable& x);
// Inverted dropout; the mask is a function of (seed, stream), so the same pair gives the same
// mask on every device. Identity when not training.
Variable dropout(const Variable& x, double p, bool training, uint64_t seed, uint64_t stream);

Variable add(const Variable& a, const Variable& b);
Variable scale(const Variable& x, double alpha);
// Zero channels around x along dimension 1: [N, C, ...] -> [N, before + C + after, ...]
// (the parameter-free shortcut when a residual block widens).
Variable pad_channels(const Variable& x, int64_t before, int64_t after);
// Concatenation along dimension 1, and its inverse: channels [begin, begin + count).
Variable concat_channels(const std::vector<Variable>& xs);
Variable slice_channels(const Variable& x, int64_t begin, int64_t count);

Variable reshape(const Variable& x, const Shape& shape);
Variable flatten(const Variable& x);  // [N, ...] -> [N, rest]

// Mean over the batch of -log softmax(logits)[label]: logits [N, M], labels i32 [N].
Variable cross_entropy(const Variable& logits, const Tensor& labels);
// Mean of (a - b)^2 over all elements.
Variable mse_loss(const Variable& a, const Variable& b);
Variable sum(const Variable& x);
Variable mean(const Variable& x);

}  // namespace sire::ops
