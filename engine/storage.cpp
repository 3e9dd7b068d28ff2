#include "engine/storage.h"

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <new>

#include "engine/caching_pool.h"
#include "engine/error.h"

namespace sire {
namespace {

void* aligned_block(size_t bytes) {
  // 64-byte alignment: a cache line, and what AVX-512 loads like best.
  return std::aligned_alloc(64, std::max<size_t>(64, (bytes + 63) / 64 * 64));
}

// Large cached blocks: 2 MiB-aligned and marked for transparent huge pages, so that kernels
// streaming through 16 MiB activations do not miss the TLB every 4 KiB.
void* large_block(size_t bytes) {
  constexpr size_t kHuge = size_t{2} << 20;
  const size_t rounded = (bytes + kHuge - 1) / kHuge * kHuge;
  void* p = std::aligned_alloc(kHuge, rounded);
  if (p) madvise(p, rounded, MADV_HUGEPAGE);
  return p;
}

// Small blocks come from malloc; blocks of 256 KiB and more are cached by size class, so that
// the activations of one training step reuse the pages of the last instead of faulting in fresh
// ones (the system hands a freed large block back at once).
class CpuAllocator final : public Allocator {
 public:
  void* allocate(size_t bytes) override {
    void* p = bytes >= kCached ? pool_.allocate(bytes) : aligned_block(bytes);
    SIRE_CHECK(p != nullptr, "out of CPU memory allocating ", bytes, " bytes");
    return p;
  }
  void deallocate(void* ptr, size_t bytes) override {
    if (bytes < kCached || !pool_.deallocate(ptr)) std::free(ptr);
  }

 private:
  static constexpr size_t kCached = size_t{256} << 10;
  CachingPool pool_{large_block, [](void* p) { std::free(p); }};
};

struct Counters {
  std::atomic<int64_t> current{0}, peak{0}, allocations{0};
};

Counters& counters(Device d) {
  static Counters c[2];
  return c[static_cast<int>(d)];
}

Allocator*& slot(Device d) {
  // Never destroyed: thread-local workspaces of OpenMP threads may be freed after static
  // destructors have run.
  static CpuAllocator* cpu = new CpuAllocator;
  static Allocator* slots[2] = {cpu, nullptr};
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
