// Checked CUDA and cuBLAS calls: a failure throws sire::Error with the call's text, the error's
// name and description, and file:line. Plain C++ (the runtime API headers only), so that .cpp
// and .cu files of the backend share it.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "engine/error.h"

namespace sire::cuda::detail {

[[noreturn]] void cuda_fail(cudaError_t e, const char* call, const char* file, int line);
[[noreturn]] void cublas_fail(cublasStatus_t s, const char* call, const char* file, int line);
// After a kernel launch: the launch error, and with SIRE_CUDA_SYNC=1 the kernel's own error
// (a synchronization after every launch, to pin an asynchronous fault on its kernel).
void after_launch(const char* kernel, const char* file, int line);

}  // namespace sire::cuda::detail

#define SIRE_CUDA_CHECK(call)                                              \
  do {                                                                     \
    const cudaError_t sire_e_ = (call);                                    \
    if (sire_e_ != cudaSuccess)                                            \
      ::sire::cuda::detail::cuda_fail(sire_e_, #call, __FILE__, __LINE__); \
  } while (0)

#define SIRE_CUBLAS_CHECK(call)                                              \
  do {                                                                       \
    const cublasStatus_t sire_s_ = (call);                                   \
    if (sire_s_ != CUBLAS_STATUS_SUCCESS)                                    \
      ::sire::cuda::detail::cublas_fail(sire_s_, #call, __FILE__, __LINE__); \
  } while (0)

// The one-line launcher of every kernel: SIRE_LAUNCH(kernel, grid, block, args...). Kernels run
// on the default stream, in issue order, which is what the caching allocator relies on.
#define SIRE_LAUNCH(kernel, grid, block, ...)                        \
  do {                                                               \
    kernel<<<(grid), (block)>>>(__VA_ARGS__);                        \
    ::sire::cuda::detail::after_launch(#kernel, __FILE__, __LINE__); \
  } while (0)
