// <immintrin.h> for the kernels whose AVX-512 code GCC 12 warns about wrongly. Its max, unpack,
// shuffle, permute and 256-to-512 intrinsics start from _mm512_undefined_ps(), a deliberate
// self-initialization that -Wmaybe-uninitialized reports wherever they are inlined, so the
// files that use them (and include this) silence that warning. The others include
// <immintrin.h> themselves and keep it.
#pragma once

#if defined(__AVX512F__)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#endif
