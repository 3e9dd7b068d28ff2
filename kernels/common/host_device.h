// One marker for functions that both backends call: host+device under nvcc, plain inline in C++.
#pragma once

#if defined(__CUDACC__)
#define SIRE_HD __host__ __device__ inline
#else
#define SIRE_HD inline
#endif
