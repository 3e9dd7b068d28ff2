#include "data/file_io.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <system_error>

#include "engine/error.h"

namespace sire::data {
namespace fs = std::filesystem;

std::vector<uint8_t> read_file(const std::string& path) {
  SIRE_CHECK(!is_directory(path), path, ": is a folder, expected a file");
  errno = 0;
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr)
    SIRE_FAIL(path, ": cannot open: ", errno != 0 ? std::strerror(errno) : "out of memory");
  gzbuffer(f, 1 << 18);
  std::vector<uint8_t> bytes;
  constexpr size_t kChunk = 1 << 20;
  for (;;) {
    const size_t old = bytes.size();
    bytes.resize(old + kChunk);
    const int got = gzread(f, bytes.data() + old, static_cast<unsigned>(kChunk));
    bytes.resize(old + static_cast<size_t>(std::max(got, 0)));
    if (got <= 0) break;
  }
  int err = Z_OK;
  const char* message = gzerror(f, &err);
  std::string what = message != nullptr ? message : "";
  if (what.rfind(path + ": ", 0) == 0) what.erase(0, path.size() + 2);  // zlib prefixes the path
  const int saved_errno = errno;
  gzclose(f);
  // zlib reports a gzip stream that stops before its end as Z_BUF_ERROR ("unexpected end of
  // file"): the download was cut short.
  if (err == Z_BUF_ERROR)
    SIRE_FAIL(path, ": truncated: the gzip stream ends early, after ", bytes.size(),
              " decompressed bytes");
  if (err == Z_ERRNO) SIRE_FAIL(path, ": read error: ", std::strerror(saved_errno));
  if (err != Z_OK) SIRE_FAIL(path, ": corrupt gzip data (", what, ")");
  return bytes;
}

std::vector<uint8_t> read_raw_file(const std::string& path) {
  SIRE_CHECK(!is_directory(path), path, ": is a folder, expected a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) SIRE_FAIL(path, ": cannot open: ", std::strerror(errno));
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  SIRE_CHECK(size >= 0, path, ": cannot tell the file's size");
  in.seekg(0, std::ios::beg);
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  if (size > 0 && !in.read(reinterpret_cast<char*>(bytes.data()), size))
    SIRE_FAIL(path, ": read error after ", in.gcount(), " of ", size, " bytes");
  return bytes;
}

bool is_file(const std::string& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec);
}

bool is_directory(const std::string& path) {
  std::error_code ec;
  return fs::is_directory(path, ec);
}

std::vector<DirEntry> list_directory(const std::string& path) {
  std::error_code ec;
  fs::directory_iterator it(path, ec);
  if (ec) SIRE_FAIL(path, ": cannot list the folder: ", ec.message());
  std::vector<DirEntry> entries;
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) SIRE_FAIL(path, ": cannot list the folder: ", ec.message());
    std::string name = it->path().filename().string();
    if (name.empty() || name[0] == '.') continue;
    std::error_code type_ec;
    entries.push_back({name, it->is_directory(type_ec)});  // follows symbolic links
  }
  if (ec) SIRE_FAIL(path, ": cannot list the folder: ", ec.message());
  std::sort(entries.begin(), entries.end(),
            [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
  return entries;
}

std::string join_path(const std::string& dir, const std::string& name) {
  if (dir.empty()) return name;
  return dir.back() == '/' ? dir + name : dir + "/" + name;
}

std::vector<std::string> read_lines(const std::string& path) {
  const std::vector<uint8_t> bytes = read_raw_file(path);
  std::vector<std::string> lines;
  std::string line;
  auto flush = [&] {
    const size_t b = line.find_first_not_of(" \t\r");
    if (b != std::string::npos) {
      const size_t e = line.find_last_not_of(" \t\r");
      lines.push_back(line.substr(b, e - b + 1));
    }
    line.clear();
  };
  for (uint8_t c : bytes) {
    if (c == '\n')
      flush();
    else
      line.push_back(static_cast<char>(c));
  }
  flush();
  return lines;
}

}  // namespace sire::data
