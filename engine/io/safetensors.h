// The safetensors format (a little-endian u64 header length, a JSON header naming each tensor's
// dtype, shape and byte range, then the raw bytes), so that checkpoints open in other tools.
// Files are written atomically: to a temporary file in the same folder, flushed to disk, then
// renamed over the target, so an interrupted write never leaves a half-written checkpoint.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"

namespace sire::io {

struct TensorFile {
  std::vector<std::pair<std::string, Tensor>> tensors;  // in file order (CPU tensors)
  std::map<std::string, std::string> metadata;           // the header's "__metadata__"
  const Tensor& get(const std::string& name) const;      // throws naming the file and tensor
  bool has(const std::string& name) const;
  std::string path;
};

// Tensors on any device are copied to the host for writing.
void save_safetensors(const std::string& path,
                      const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});
// Validates everything (sizes, offsets, dtypes, shapes) and names the file in every error.
TensorFile load_safetensors(const std::string& path);

// Writes `bytes` to `path` atomically (temporary file, fsync, rename).
void write_file_atomically(const std::string& path, const std::string& bytes);

// Removes the temporaries write_file_atomically left in `dir` when its process died between
// creating one and renaming it (NAME.tmp.PID, PID no longer running); a live process's are
// kept. Returns the names removed. A resumed run calls it, so that crashes leave no clutter.
std::vector<std::string> remove_stale_temporaries(const std::string& dir);

}  // namespace sire::io
