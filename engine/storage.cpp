#include "engine/storage.h"

#include <atomic>
#include <cstdlib>
#include <new>

#include "engine/error.h"

namespace sire {
namespace {

// 64-byte alignment: a cache line, and what AVX-512 loads like best.
class CpuAllocator final : public Allocator {
 public:
  void* allocate(size_t bytes) override {
    size_t rounded = (bytes + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
    SIRE_CHECK(p != nullptr, "out of CPU memory allocating ", bytes, " bytes");
    return p;
  }
  void deallocate(void* ptr, size_t) override { std::free(ptr); }
};

struct Counters {
  std::atomic<int64_t> current{0}, peak{0}, allocations{0};
};

Counters& counters(Device d) {
  static Counters c[2];
  return c[static_cast<int>(d)];
}

Allocator*& slot(Device d) {
  static CpuAllocator cpu;
  static Allocator* slots[2] = {&cpu, nullptr};
  return slots[static_cast<int>(d)];
}

}  // namespace

Allocator& allocator_for(Device device) {
  Allocator* a = slot(device);
  SIRE_CHECK(a != nullptr, "no allocator for device '", device_name(device),
             "': this build has no CUDA backend or no GPU is present");
  return *a;
}

void register_allocator(Device device, Allocator* allocator) { slot(device) = allocator; }

MemoryStats memory_stats(Device device) {
  Counters& c = counters(device);
  return MemoryStats{c.current.load(), c.peak.load(), c.allocations.load()};
}

void reset_peak_memory(Device device) {
  Counters& c = counters(device);
  c.peak.store(c.current.load());
}

Storage::Storage(size_t bytes, Device device) : bytes_(bytes), device_(device) {
  data_ = allocator_for(device).allocate(bytes);
  Counters& c = counters(device);
  int64_t now = c.current.fetch_add(static_cast<int64_t>(bytes)) + static_cast<int64_t>(bytes);
  int64_t peak = c.peak.load();
  while (now > peak && !c.peak.compare_exchange_weak(peak, now)) {
  }
  c.allocations.fetch_add(1);
}

Storage::~Storage() {
  allocator_for(device_).deallocate(data_, bytes_);
  counters(device_).current.fetch_sub(static_cast<int64_t>(bytes_));
}

}  // namespace sire
