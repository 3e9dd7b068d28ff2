// Errors: one exception type whose message says what went wrong, in which op or file, with
// which shapes, and where in the source it was raised.
#pragma once

#include <new>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

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

// Runs f() and returns what it returns. Any exception from inside becomes a sire::Error that
// names `where` (a file, a layer): one whose message already names it passes unchanged, any
// other is prefixed with it, a library's own (a JSON field of the wrong type in a file's
// metadata, an allocation that failed) included. For the boundaries where a user's file is
// read, so that a failure deep inside still says which file it came from.
template <class F>
auto with_context(const std::string& where, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const Error& e) {
    if (std::string_view(e.what()).find(where) != std::string_view::npos) throw;
    throw Error(where + ": " + e.what());
  } catch (const std::bad_alloc&) {
    throw Error(where + ": out of memory");
  } catch (const std::exception& e) {
    throw Error(where + ": " + e.what());
  }
}

}  // namespace sire

// Throws sire::Error with the message and file:line when `cond` is false.
#define SIRE_CHECK(cond, ...)                                              \
  do {                                                                     \
    if (!(cond)) ::sire::detail::fail(__FILE__, __LINE__, ::sire::str(__VA_ARGS__)); \
  } while (0)

#define SIRE_FAIL(...) ::sire::detail::fail(__FILE__, __LINE__, ::sire::str(__VA_ARGS__))
