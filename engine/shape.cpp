#include "engine/shape.h"

#include <sstream>

#include "engine/device.h"
#include "engine/error.h"

namespace sire {

std::string to_string(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(s[i]);
  }
  return out + "]";
}

std::ostream& operator<<(std::ostream& os, const Shape& s) { return os << to_string(s); }

Device parse_device(const std::string& text) {
  if (text == "cpu") return Device::CPU;
  if (text == "cuda") return Device::CUDA;
  SIRE_FAIL("unknown device '", text, "' (known: cpu, cuda)");
}

const char* gpu_math_name(GpuMath math) {
  switch (math) {
    case GpuMath::kTF32:
      return "tf32";
    case GpuMath::kTF32x3:
      return "3xtf32";
    default:
      return "fp32";
  }
}

GpuMath parse_gpu_math(const std::string& text) {
  for (GpuMath m : {GpuMath::kFP32, GpuMath::kTF32, GpuMath::kTF32x3})
    if (text == gpu_math_name(m)) return m;
  SIRE_FAIL("unknown GPU math '", text, "' (known: fp32, tf32, 3xtf32)");
}

}  // namespace sire
