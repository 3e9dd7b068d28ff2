// Runs a templated kernel body for the element type of a floating-point tensor:
//   dispatch_float(x, "relu", [&](auto tag) { using T = decltype(tag); ... x.data<T>() ... });
#pragma once

#include "engine/tensor.h"

namespace sire::cpu {

template <class F>
void dispatch_float(const Tensor& t, const char* op, F&& f) {
  switch (t.dtype()) {
    case DType::F32: f(float{}); return;
    case DType::F64: f(double{}); return;
    default: SIRE_FAIL(op, ": ", t.describe(), " is not floating point");
  }
}

}  // namespace sire::cpu
