// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11): a
// counter-based generator. The random numbers of element i depend only on (seed, counter i),
// so the CPU and the GPU draw the same dropout mask, in any order, on any number of threads,
// and a backward pass can regenerate a mask instead of storing it.
#pragma once

#include <cstdint>

#include "kernels/common/host_device.h"

namespace sire {

struct Philox4 {
  uint32_t v[4];
};

SIRE_HD void philox_mulhilo(uint32_t a, uint32_t b, uint32_t* hi, uint32_t* lo) {
  uint64_t p = static_cast<uint64_t>(a) * b;
  *hi = static_cast<uint32_t>(p >> 32);
  *lo = static_cast<uint32_t>(p);
}

// Four 32-bit random words for a 128-bit counter (here: a 64-bit counter and a 64-bit stream).
SIRE_HD Philox4 philox4x32(uint64_t seed, uint64_t counter, uint64_t stream) {
  uint32_t c0 = static_cast<uint32_t>(counter), c1 = static_cast<uint32_t>(counter >> 32);
  uint32_t c2 = static_cast<uint32_t>(stream), c3 = static_cast<uint32_t>(stream >> 32);
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, lo0, hi1, lo1;
    philox_mulhilo(0xD2511F53u, c0, &hi0, &lo0);
    philox_mulhilo(0xCD9E8D57u, c2, &hi1, &lo1);
    uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
    c0 = n0;
    c1 = n1;
    c2 = n2;
    c3 = n3;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return Philox4{{c0, c1, c2, c3}};
}

// A uniform float in [0, 1) from the top 24 bits of a word (exactly representable).
SIRE_HD float uniform_from_bits(uint32_t bits) {
  return static_cast<float>(bits >> 8) * (1.0f / 16777216.0f);
}

// The uniform number of element `index` of stream (seed, stream): element i uses word i % 4 of
// counter i / 4, so four neighbours share one Philox evaluation.
SIRE_HD float philox_uniform(uint64_t seed, uint64_t stream, uint64_t index) {
  Philox4 r = philox4x32(seed, index >> 2, stream);
  return uniform_from_bits(r.v[index & 3]);
}

}  // namespace sire
