// Errors: one exception type whose message says what went wrong, in which op or file, with
// which shapes, and where in the source it was raised.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace sire {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Concatenates any streamable values into one string: str("conv2d: ", shape, " vs ", other).
template <class... Args>
std::string str(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

namespace detail {
[[noreturn]] void fail(const char* file, int line, const std::string& message);
}  // namespace detail

}  // namespace sire

// Throws sire::Error with the message and file:line when `cond` is false.
#define SIRE_CHECK(cond, ...)                                              \
  do {                                                                     \
    if (!(cond)) ::sire::detail::fail(__FILE__, __LINE__, ::sire::str(__VA_ARGS__)); \
  } while (0)

#define SIRE_FAIL(...) ::sire::detail::fail(__FILE__, __LINE__, ::sire::str(__VA_ARGS__))
