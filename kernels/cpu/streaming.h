// Outputs written past the caches. A plain store of a line that is not in cache first reads it
// (to own it), a third more memory traffic for an output that is only written. For outputs far
// larger than a core's L2, which no cache keeps for their next reader anyway, the kernels that
// can write whole aligned 64-byte vectors with streaming stores instead (Winograd's outputs,
// batch norm's forward and input gradient, the folded upsample + skip sum, add and
// relu_backward into outputs of their own), in the plain loops' operations, so with the same
// bits; each thread fences its streaming stores before its part of the loop ends.
#pragma once

#include <cstdint>

namespace sire::cpu {

// From this size on (bytes of the whole output; 4x a core's 1 MiB L2): at a 64 -> 64 @ 32x32
// Winograd forward, 1.4 ms of 10 went to reading the lines about to be filled.
constexpr int64_t kStreamBytes = int64_t{4} << 20;

}  // namespace sire::cpu
