// Tensor shapes: a list of extents, outermost first (NCHW for images).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <string>
#include <vector>

namespace sire {

// A distinct type (not a bare vector) so that `os << shape` finds its printer by ADL.
struct Shape : std::vector<int64_t> {
  using std::vector<int64_t>::vector;
  Shape() = default;
  Shape(std::initializer_list<int64_t> dims) : std::vector<int64_t>(dims) {}
  explicit Shape(const std::vector<int64_t>& v) : std::vector<int64_t>(v) {}
};

inline int64_t numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

// "[64, 3, 32, 32]"
std::string to_string(const Shape& s);
std::ostream& operator<<(std::ostream& os, const Shape& s);

}  // namespace sire
