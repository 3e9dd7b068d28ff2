// Input checks shared by the ops: every failure names the op and the tensors involved.
#pragma once

#include <initializer_list>
#include <string>

#include "engine/autograd/variable.h"
#include "engine/backend.h"

namespace sire::ops::detail {

// All defined inputs are floating point, of one dtype, on one device.
inline void check_float_inputs(const char* op, std::initializer_list<const Variable*> inputs) {
  const Variable* first = nullptr;
  for (const Variable* v : inputs) {
    if (!v->defined()) continue;
    SIRE_CHECK(v->dtype() != DType::I32, op, ": input ", v->data().describe(),
               " is not floating point");
    if (!first) {
      first = v;
      continue;
    }
    SIRE_CHECK(v->dtype() == first->dtype() && v->device() == first->device(), op,
               ": inputs ", first->data().describe(), " and ", v->data().describe(),
               " differ in type or device");
  }
}

inline void check_rank(const char* op, const char* what, const Variable& v, int rank) {
  SIRE_CHECK(v.data().ndim() == rank, op, ": ", what, " must have ", rank, " dimensions, got ",
             v.shape());
}

inline Tensor like(const Tensor& t) { return Tensor::empty(t.shape(), t.dtype(), t.device()); }
inline Tensor new_of(const Tensor& t, const Shape& s) { return Tensor::empty(s, t.dtype(), t.device()); }
inline Backend& be(const Tensor& t) { return backend_for(t.device()); }

// Inputs of a recorded op, skipping an undefined optional one (its gradient slot is the last).
inline std::vector<Variable> inputs_of(std::initializer_list<Variable> vs) {
  std::vector<Variable> out;
  for (const Variable& v : vs)
    if (v.defined()) out.push_back(v);
  return out;
}

}  // namespace sire::ops::detail
