// Where a tensor's storage lives. Copies between devices are always explicit (Tensor::to).
#pragma once

#include <ostream>
#include <string>

namespace sire {

enum class Device { CPU, CUDA };

inline const char* device_name(Device d) { return d == Device::CPU ? "cpu" : "cuda"; }
inline std::ostream& operator<<(std::ostream& os, Device d) { return os << device_name(d); }

// Parses "cpu" or "cuda"; throws naming the text otherwise.
Device parse_device(const std::string& text);

// True when this build has the CUDA backend and a GPU is present.
bool cuda_available();

// How the GPU multiplies in convolutions and dense layers: plain FP32 (the default, and what the
// tests compare tightly); TF32 on the tensor cores (inputs rounded to 10 mantissa bits, sums in
// FP32; what PyTorch does by default in cuDNN convolutions); or 3xTF32, FP32's accuracy from the
// tensor cores (each operand split into two TF32 numbers, three products of them summed; in our
// convolutions; dense layers then run in FP32). The CPU always computes in FP32.
enum class GpuMath { kFP32, kTF32, kTF32x3 };
const char* gpu_math_name(GpuMath math);
// Parses "fp32", "tf32" or "3xtf32"; throws naming the text otherwise.
GpuMath parse_gpu_math(const std::string& text);
// Sets the math for every later GPU op (also SIRE_CUDA_MATH=tf32|3xtf32 at start-up). Either
// TF32 math throws in a build without the CUDA backend and on a GPU older than sm_80.
void set_gpu_math(GpuMath math);
GpuMath gpu_math();

}  // namespace sire
