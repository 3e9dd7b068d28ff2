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

}  // namespace sire
