// Owning, device-tagged memory. Every byte a tensor holds comes through here, so the engine
// knows how much memory each device holds now and held at most (peak) since the last reset.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "engine/device.h"

namespace sire {

class Allocator {
 public:
  virtual ~Allocator() = default;
  virtual void* allocate(size_t bytes) = 0;
  virtual void deallocate(void* ptr, size_t bytes) = 0;
};

// The CPU allocator is built in; the CUDA backend registers its caching allocator at start-up.
Allocator& allocator_for(Device device);
void register_allocator(Device device, Allocator* allocator);

struct MemoryStats {
  int64_t current_bytes = 0;
  int64_t peak_bytes = 0;
  int64_t allocations = 0;  // number of allocate() calls since start
};
MemoryStats memory_stats(Device device);
void reset_peak_memory(Device device);

class Storage {
 public:
  Storage(size_t bytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
  Device device_;
};

}  // namespace sire
