// What the rest of the program may ask of the CUDA backend beyond the Backend interface: the
// math of the matrix kernels, device facts, synchronization and the allocator's statistics.
// Plain C++: tests, benchmarks and apps include it without CUDA headers. Only in CUDA builds.
#pragma once

#include <cstdint>
#include <string>

#include "engine/device.h"

namespace sire::cuda {

// Convolutions (our implicit-GEMM kernels) and dense layers (cuBLAS) multiply in plain FP32
// (the default, and what tests compare tightly), on the tensor cores in TF32 (inputs rounded
// to 10 mantissa bits, FP32 accumulation), or in 3xTF32 (convolutions only; FP32 accuracy from
// three TF32 products): engine/device.h's GpuMath, which set_gpu_math sets through set_math.
// Also set by SIRE_CUDA_MATH=tf32|3xtf32 at start-up.
using Math = GpuMath;
void set_math(Math math);
Math math();
const char* math_name(Math math);

// How the convolution kernels bring their operands into shared memory: cp.async, four stages
// deep (the default), or through registers one step ahead (the first version, kept to compare
// and as a fallback). Both compute the same sums in the same order: the same bits. Also set by
// SIRE_CUDA_CONV_STAGING=registers|pipelined at start-up.
enum class Staging { kPipelined, kRegisters };
void set_conv_staging(Staging staging);
Staging conv_staging();
const char* staging_name(Staging staging);

// The convolutions' tile policy (conv_plan.h's ConvTiles): large (the default) or fill. Also set
// by SIRE_CUDA_CONV_TILES=large|fill at start-up. A tuning knob: both give correct results,
// with different split-K partial sums (so not the same bits).
void set_conv_tiles_fill(bool fill);
bool conv_tiles_fill();

// Winograd F(4x4, 3x3) (conv_winograd.h) for the forward and input-gradient passes of 3x3 "same"
// stride-1 convolutions: kAuto (the default) where both channel counts are 64 or more;
// kAlways wherever it fits (16 or more channels each side); kOff never. In every math, its
// products in the math set now (TF32 and 3xTF32 on the tensor cores). Also set by
// SIRE_CUDA_WINOGRAD=0|1 at start-up. Winograd rounds 10-20x more than the direct sum in FP32 (as
// on the CPU, whose Winograd kernels take the same convolutions by default), and in TF32 about as
// much as TF32's own norm-wise bound allows (docs/cuda.md).
enum class Winograd { kOff, kAuto, kAlways };
void set_conv_winograd(Winograd use);
Winograd conv_winograd();
const char* winograd_name(Winograd use);

// The most bytes of Winograd's transformed operands (V and M, or V and dM) one pass keeps at a
// time: a batch whose V and M are larger runs in chunks of samples that fit (conv_winograd.h's
// winograd_chunk_samples), on one scratch buffer. A memory cap: by default 256 MiB, which no
// SIRe-CNN layer reaches at batch 64 (75 MB at most) but a 224x224 VGG layer does (3.7 GB at
// batch 64). Chunks small enough to stay in the L2 (half of it: 3 and 2 chunks at SIRe-CNN's
// 32x32 and 16x16 planes) were measured 1.25x slower on an H200 (docs/cuda.md): the extra
// launches cost more than the DRAM traffic they save. 0: the whole batch at once. Also set by
// SIRE_CUDA_WINOGRAD_CHUNK_MIB=N at start-up. Chunks change no sum inside a tile's products, but
// a chunk's products may be planned (split) otherwise than the whole batch's: not always the
// same bits.
void set_winograd_chunk_bytes(int64_t bytes);  // negative: back to the default
int64_t winograd_chunk_bytes();                // the setting, or the default

// The device the backend runs on (device 0).
struct DeviceInfo {
  std::string name;
  int sm_count = 0, major = 0, minor = 0;
  int64_t global_bytes = 0, l2_bytes = 0;
};
const DeviceInfo& device_info();

// Waits for every queued kernel; throws the first asynchronous error.
void synchronize();

// The caching allocator (engine/caching_pool.h holds its policy).
struct AllocatorStats {
  int64_t device_mallocs = 0;  // cudaMalloc calls so far: flat once a workload is warm
  int64_t device_frees = 0;
  int64_t cached_bytes = 0;    // held in free lists, ready for reuse
  int64_t reserved_bytes = 0;  // everything obtained from cudaMalloc and not yet freed
};
AllocatorStats allocator_stats();
// Returns every cached block to the driver.
void release_cached_memory();
// Fills every block the allocator hands out with 0xFF bytes (a NaN in f32, -1 in i32), so that a
// kernel that leaves an output element unwritten is caught. Also set by SIRE_CUDA_POISON=1.
void set_poison_allocations(bool on);

}  // namespace sire::cuda
