// Row-major matrix multiply, C = alpha op(A) op(B) + beta C, on OpenBLAS (sgemm / dgemm).
#pragma once

#include <cstdint>

namespace sire::cpu {

template <class T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
          int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

// The same product, its columns in fixed chunks of 256 run in parallel (each chunk a
// single-threaded GEMM over the whole reduction): balanced dynamically across the threads, and
// the same bits on any number of them.
template <class T>
void parallel_gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha,
                   const T* A, int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

// Sets the threads of the CPU backend (OpenMP and OpenBLAS); 0 means all cores.
void set_threads(int threads);
int threads();

}  // namespace sire::cpu
