// A caching allocator's policy, for any raw allocator: blocks are rounded up to size classes
// (four per power of two, so at most 25% is wasted), and a freed block goes to its class's free
// list instead of back to the system. Once a training step has run, the next one finds every
// block it needs in the lists:
//  - on the GPU: no cudaMalloc (which synchronizes the device) per op. Blocks are reused in the
//    order kernels are queued on the one stream the backend uses, so a block freed while a kernel
//    still reads it is only handed to kernels queued after that one;
//  - on the CPU (large blocks only): no fresh pages to fault in and zero, which for a 16 MB
//    activation costs more than the op that writes it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace sire {

class CachingPool {
 public:
  using RawAlloc = std::function<void*(size_t)>;  // nullptr when the device is out of memory
  using RawFree = std::function<void(void*)>;

  struct Stats {
    int64_t raw_allocs = 0, raw_frees = 0, cached_bytes = 0, reserved_bytes = 0;
  };

  CachingPool(RawAlloc raw_alloc, RawFree raw_free)
      : raw_alloc_(std::move(raw_alloc)), raw_free_(std::move(raw_free)) {}
  CachingPool(const CachingPool&) = delete;
  CachingPool& operator=(const CachingPool&) = delete;

  // 512 bytes at least, then four classes per power of two: 512, 640, 768, 896, 1024, 1280, ...
  // (every class a multiple of 128 bytes; the blocks themselves are cudaMalloc's, 256-aligned).
  static size_t size_class(size_t bytes) {
    if (bytes <= 512) return 512;
    int k = 0;
    while ((size_t{1} << (k + 1)) < bytes) ++k;  // 2^k < bytes <= 2^(k+1)
    const size_t step = size_t{1} << (k - 2);    // a quarter of 2^k
    return (bytes + step - 1) / step * step;
  }

  // A block of at least `bytes`; nullptr when even after returning every cached block to the
  // driver the device has no room.
  void* allocate(size_t bytes) {
    const size_t cls = size_class(bytes);
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = free_.find(cls);
    if (it != free_.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      stats_.cached_bytes -= static_cast<int64_t>(cls);
      live_[p] = cls;
      return p;
    }
    void* p = raw_alloc_(cls);
    if (!p) {  // the cache may hold what is missing, in other classes
      release_locked();
      p = raw_alloc_(cls);
      if (!p) return nullptr;
    }
    ++stats_.raw_allocs;
    stats_.reserved_bytes += static_cast<int64_t>(cls);
    live_[p] = cls;
    return p;
  }

  // Returns false for a pointer this pool did not hand out.
  bool deallocate(void* p) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = live_.find(p);
    if (it == live_.end()) return false;
    free_[it->second].push_back(p);
    stats_.cached_bytes += static_cast<int64_t>(it->second);
    live_.erase(it);
    return true;
  }

  // Hands every cached block back to the driver.
  void release() {
    std::lock_guard<std::mutex> lock(mutex_);
    release_locked();
  }

  // The size class of a live block (0 for an unknown pointer).
  size_t block_size(void* p) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = live_.find(p);
    return it == live_.end() ? 0 : it->second;
  }

  Stats stats() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
  }

 private:
  void release_locked() {
    for (auto& [cls, blocks] : free_) {
      for (void* p : blocks) {
        raw_free_(p);
        ++stats_.raw_frees;
        stats_.reserved_bytes -= static_cast<int64_t>(cls);
        stats_.cached_bytes -= static_cast<int64_t>(cls);
      }
    }
    free_.clear();
  }

  RawAlloc raw_alloc_;
  RawFree raw_free_;
  mutable std::mutex mutex_;
  std::unordered_map<void*, size_t> live_;     // handed out: pointer -> size class
  std::map<size_t, std::vector<void*>> free_;  // size class -> cached blocks
  Stats stats_;
};

}  // namespace sire
