// Element types. float32 is what models train in; float64 exists on the CPU so that gradient
// checks can use finite differences without drowning in rounding error; int32 holds labels and
// max-pool indices.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace sire {

enum class DType : uint8_t { F32, F64, I32 };

inline size_t dtype_size(DType t) { return t == DType::F64 ? 8 : 4; }

inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "f32";
    case DType::F64: return "f64";
    case DType::I32: return "i32";
  }
  return "?";
}

template <class T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<float>() { return DType::F32; }
template <>
constexpr DType dtype_of<double>() { return DType::F64; }
template <>
constexpr DType dtype_of<int32_t>() { return DType::I32; }

}  // namespace sire
