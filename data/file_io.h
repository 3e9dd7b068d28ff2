// Reading whole files and listing folders, with errors that name the path and the fault.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sire::data {

// The bytes of a file, decompressed when it is gzip data (zlib's gzread passes other files
// through unchanged, so "x.gz" and "x" read alike). A missing file, a corrupt or cut-off gzip
// stream, or a read error throws sire::Error naming the path.
std::vector<uint8_t> read_file(const std::string& path);

// Plain bytes, no decompression (image files).
std::vector<uint8_t> read_raw_file(const std::string& path);

bool is_file(const std::string& path);
bool is_directory(const std::string& path);

struct DirEntry {
  std::string name;  // the file name only
  bool is_directory = false;
};
// Entries of a folder sorted by name (byte order), hidden ones (".x") left out.
std::vector<DirEntry> list_directory(const std::string& path);

std::string join_path(const std::string& dir, const std::string& name);

// Non-empty lines with surrounding whitespace (and '\r') removed: class-name files.
std::vector<std::string> read_lines(const std::string& path);

}  // namespace sire::data
