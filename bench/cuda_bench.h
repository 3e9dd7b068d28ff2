// What the CUDA benchmarks share: timing with CUDA events (warm-up, L2 flushed before every
// repetition, median), the device-to-device copy bandwidth measured in the same run, random
// device tensors (never zeros), and checked cuDNN calls. Benchmarks only: the library itself
// never uses cuDNN.
#pragma once

#include <cudnn.h>

#include <functional>
#include <string>

#include "engine/tensor.h"

#define SIRE_CUDNN_CHECK(call)                                      \
  do {                                                              \
    const cudnnStatus_t sire_st_ = (call);                          \
    if (sire_st_ != CUDNN_STATUS_SUCCESS)                           \
      SIRE_FAIL(#call, " failed: ", cudnnGetErrorString(sire_st_)); \
  } while (0)

namespace sire::bench {

cudnnHandle_t cudnn();

// Median time in milliseconds of f() over `reps` repetitions, each timed alone with CUDA events
// after the L2 cache was flushed, following `warmup` untimed runs.
double median_ms(const std::function<void()>& f, int warmup = 3, int reps = 25);

// Device-to-device copy bandwidth in GB/s (bytes read + bytes written), measured once per run
// on 512 MiB.
double copy_bandwidth_gbs();
// The same for a copy that moves `bytes_moved` bytes in all (half read, half written), timed
// like a kernel (median_ms), measured once per size: the yardstick for a kernel that moves
// those bytes, since at a few MiB a launch and its ramp are part of any kernel's time.
double copy_bandwidth_gbs(double bytes_moved);

// Uniform(-1, 1) values on the GPU.
Tensor random_device(const Shape& shape, uint64_t seed);

// ||a - b|| / ||b|| of two GPU tensors (copied to the host).
double relative_l2(const Tensor& a, const Tensor& b);

// "NVIDIA H100 80GB HBM3, sm_90, 132 SMs, cuDNN 9.19.0" for the benchmark context.
std::string device_description();

// RAII holders of cuDNN descriptors.
struct TensorDesc {
  cudnnTensorDescriptor_t d = nullptr;
  TensorDesc(int n, int c, int h, int w);
  ~TensorDesc();
  TensorDesc(const TensorDesc&) = delete;
  TensorDesc& operator=(const TensorDesc&) = delete;
};

}  // namespace sire::bench
