#include "engine/error.h"

#include <cstring>

namespace sire::detail {

void fail(const char* file, int line, const std::string& message) {
  // Keep only the path below the project root: "engine/ops/conv.cpp", not the build machine's.
  const char* short_file = file;
  for (const char* root : {"/engine/", "/kernels/", "/models/", "/data/", "/apps/", "/tests/"}) {
    if (const char* p = std::strstr(file, root)) {
      short_file = p + 1;
      break;
    }
  }
  throw Error(message + " [" + short_file + ":" + std::to_string(line) + "]");
}

}  // namespace sire::detail
