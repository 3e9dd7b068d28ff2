// Internal to the CUDA backend: the cuBLAS handle and the allocator object. Plain C++.
#pragma once

#include <cublas_v2.h>

#include "engine/storage.h"

namespace sire::cuda {

// Created on first use, bound to the default stream, with the math mode of set_math().
cublasHandle_t cublas_handle();

}  // namespace sire::cuda
