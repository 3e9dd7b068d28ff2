#include "engine/io/safetensors.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace sire::io {

using json = nlohmann::json;

namespace {

const char* st_dtype(DType t) {
  switch (t) {
    case DType::F32: return "F32";
    case DType::F64: return "F64";
    case DType::I32: return "I32";
  }
  return "?";
}

DType parse_dtype(const std::string& s, const std::string& path, const std::string& name) {
  if (s == "F32") return DType::F32;
  if (s == "F64") return DType::F64;
  if (s == "I32") return DType::I32;
  SIRE_FAIL(path, ": tensor '", name, "' has dtype '", s, "', which sire does not read (F32, F64, I32)");
}

void write_all(int fd, const char* data, size_t n, const std::string& path) {
  while (n > 0) {
    const ssize_t w = ::write(fd, data, n);
    if (w < 0 && errno == EINTR) continue;
    SIRE_CHECK(w > 0, path, ": write failed: ", std::strerror(errno));
    data += w;
    n -= static_cast<size_t>(w);
  }
}

}  // namespace

void write_file_atomically(const std::string& path, const std::string& bytes) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  SIRE_CHECK(fd >= 0, tmp, ": cannot create: ", std::strerror(errno));
  try {
    write_all(fd, bytes.data(), bytes.size(), tmp);
    SIRE_CHECK(::fsync(fd) == 0, tmp, ": fsync failed: ", std::strerror(errno));
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    ::unlink(tmp.c_str());
    SIRE_FAIL(path, ": cannot rename the new file into place: ", why);
  }
  // Make the rename itself durable.
  const auto slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash + 1);
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

std::vector<std::string> remove_stale_temporaries(const std::string& dir) {
  std::vector<std::string> removed;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    const size_t at = name.rfind(".tmp.");
    if (at == std::string::npos || at == 0 || at + 5 == name.size() ||
        name.find_first_not_of("0123456789", at + 5) != std::string::npos || name.size() - at > 15)
      continue;
    const long pid = std::stol(name.substr(at + 5));
    // Alive (or not ours to ask about): kept. Only "no such process" marks it stale.
    if (pid == ::getpid() || pid <= 0 || pid > 2147483647L ||
        ::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH)
      continue;
    std::error_code rm;
    if (std::filesystem::remove(entry.path(), rm)) removed.push_back(name);
  }
  return removed;
}

void save_safetensors(const std::string& path,
                      const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<Tensor> host;
  size_t offset = 0;
  for (const auto& [name, t] : tensors) {
    SIRE_CHECK(!header.contains(name), path, ": tensor name '", name, "' given twice");
    host.push_back(t.to(Device::CPU));
    const size_t n = host.back().nbytes();
    header[name] = {{"dtype", st_dtype(t.dtype())},
                    {"shape", std::vector<int64_t>(t.shape().begin(), t.shape().end())},
                    {"data_offsets", {offset, offset + n}}};
    offset += n;
  }
  std::string h = header.dump();
  h.append((8 - h.size() % 8) % 8, ' ');  // keep the data 8-byte aligned
  std::string bytes(8, '\0');
  const uint64_t hn = h.size();
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((hn >> (8 * i)) & 0xff);
  bytes += h;
  bytes.reserve(bytes.size() + offset);
  for (const Tensor& t : host) bytes.append(static_cast<const char*>(t.raw_data()), t.nbytes());
  write_file_atomically(path, bytes);
}

namespace {

TensorFile read_safetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  SIRE_CHECK(in.good(), path, ": cannot open");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string bytes = ss.str();
  SIRE_CHECK(bytes.size() >= 8, path, ": truncated: ", bytes.size(), " bytes, not even a header length");
  uint64_t hn = 0;
  for (int i = 0; i < 8; ++i) hn |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[i])) << (8 * i);
  SIRE_CHECK(hn <= bytes.size() - 8, path, ": truncated: the header claims ", hn,
             " bytes but the file holds ", bytes.size() - 8, " after the length");
  json header;
  try {
    header = json::parse(bytes.substr(8, hn));
  } catch (const json::parse_error& e) {
    SIRE_FAIL(path, ": the header is not valid JSON (", e.what(), ")");
  }
  SIRE_CHECK(header.is_object(), path, ": the header is not a JSON object");
  const size_t data_start = 8 + hn, data_size = bytes.size() - data_start;
  TensorFile f;
  f.path = path;
  std::vector<std::pair<size_t, std::string>> order;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      SIRE_CHECK(it.value().is_object(), path, ": __metadata__ must map strings to strings");
      for (auto m = it.value().begin(); m != it.value().end(); ++m) {
        SIRE_CHECK(m.value().is_string(), path, ": metadata '", m.key(), "' is not a string");
        f.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const json& e = it.value();
    SIRE_CHECK(e.is_object() && e.contains("dtype") && e["dtype"].is_string() &&
                   e.contains("shape") && e["shape"].is_array() && e.contains("data_offsets") &&
                   e["data_offsets"].is_array() && e["data_offsets"].size() == 2 &&
                   e["data_offsets"][0].is_number_unsigned() &&
                   e["data_offsets"][1].is_number_unsigned(),
               path, ": tensor '", it.key(), "' needs a dtype (a string), a shape (a list) and ",
               "data_offsets (two byte offsets), got ", e.dump());
    order.emplace_back(e["data_offsets"][0].get<size_t>(), it.key());
  }
  std::sort(order.begin(), order.end());
  for (const auto& [begin_unused, name] : order) {
    const json& e = header[name];
    const DType dt = parse_dtype(e["dtype"].get<std::string>(), path, name);
    Shape shape;
    for (const json& d : e["shape"]) {
      SIRE_CHECK(d.is_number_integer() && d.get<int64_t>() >= 0, path, ": tensor '", name,
                 "' has a bad shape ", e["shape"].dump());
      shape.push_back(d.get<int64_t>());
    }
    const size_t begin = e["data_offsets"][0].get<size_t>(), end = e["data_offsets"][1].get<size_t>();
    SIRE_CHECK(begin <= end && end <= data_size, path, ": tensor '", name, "' spans bytes [",
               begin, ", ", end, ") but the data holds ", data_size, " (truncated file?)");
    int64_t need = static_cast<int64_t>(dtype_size(dt));  // checked: the shape is the file's
    for (int64_t d : shape)
      SIRE_CHECK(!__builtin_mul_overflow(need, d, &need), path, ": tensor '", name, "' of shape ",
                 shape, " is too large to address");
    SIRE_CHECK(end - begin == static_cast<size_t>(need), path, ": tensor '", name, "' of shape ",
               shape, " and dtype ", e["dtype"].get<std::string>(), " needs ", need, " bytes, has ",
               end - begin);
    Tensor t = Tensor::empty(shape, dt);
    std::memcpy(t.raw_data(), bytes.data() + data_start + begin, end - begin);
    f.tensors.emplace_back(name, t);
  }
  return f;
}

}  // namespace

// A header field of the wrong JSON type (a string where an offset belongs) or a tensor too large
// to allocate still names the file.
TensorFile load_safetensors(const std::string& path) {
  return with_context(path, [&] { return read_safetensors(path); });
}

const Tensor& TensorFile::get(const std::string& name) const {
  for (const auto& [n, t] : tensors)
    if (n == name) return t;
  SIRE_FAIL(path, ": no tensor named '", name, "'");
}

bool TensorFile::has(const std::string& name) const {
  for (const auto& [n, t] : tensors)
    if (n == name) return true;
  return false;
}

}  // namespace sire::io
