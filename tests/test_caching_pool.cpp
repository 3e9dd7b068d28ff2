// The CUDA caching allocator's policy (engine/caching_pool.h), run on host memory so that
// it is tested on every machine: size classes, reuse without new device allocations, release on
// out-of-memory.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <set>

#include "engine/caching_pool.h"

using sire::CachingPool;

namespace {
struct FakeDevice {
  size_t capacity = 1 << 20, used = 0;
  int64_t mallocs = 0;
  std::map<void*, size_t> blocks;
  CachingPool pool{[this](size_t b) -> void* {
                     if (used + b > capacity) return nullptr;
                     void* p = std::malloc(b);
                     used += b;
                     blocks[p] = b;
                     ++mallocs;
                     return p;
                   },
                   [this](void* p) {
                     used -= blocks.at(p);
                     blocks.erase(p);
                     std::free(p);
                   }};
  ~FakeDevice() { pool.release(); }
};
}  // namespace

TEST_CASE("size classes: four per power of two, at most 25% waste", "[allocator]") {
  CHECK(CachingPool::size_class(0) == 512);
  CHECK(CachingPool::size_class(1) == 512);
  CHECK(CachingPool::size_class(512) == 512);
  CHECK(CachingPool::size_class(513) == 640);
  CHECK(CachingPool::size_class(1024) == 1024);
  CHECK(CachingPool::size_class(1025) == 1280);
  CHECK(CachingPool::size_class(3 << 20) == (3 << 20));
  for (size_t b = 1; b < (1 << 22); b = b * 3 / 2 + 7) {
    const size_t c = CachingPool::size_class(b);
    INFO(b);
    CHECK(c >= b);
    CHECK(c % 128 == 0);
    CHECK((b <= 512 || c <= b + b / 4 + 1));
    CHECK(CachingPool::size_class(c) == c);
  }
}

TEST_CASE("freed blocks are reused: a warm workload allocates nothing new", "[allocator]") {
  FakeDevice dev;
  auto step = [&] {
    std::vector<void*> ps;
    for (size_t b : {100, 4000, 4000, 70000, 1000, 100}) ps.push_back(dev.pool.allocate(b));
    std::set<void*> distinct(ps.begin(), ps.end());
    CHECK(distinct.size() == ps.size());
    for (void* p : ps) CHECK(dev.pool.deallocate(p));
  };
  step();
  const int64_t after_first = dev.mallocs;
  CHECK(after_first == 6);
  for (int i = 0; i < 5; ++i) step();
  CHECK(dev.mallocs == after_first);
  CHECK(dev.pool.stats().raw_allocs == after_first);
  CHECK(dev.pool.stats().cached_bytes == dev.pool.stats().reserved_bytes);
  int dummy;
  CHECK_FALSE(dev.pool.deallocate(&dummy));
}

TEST_CASE("out of memory: cached blocks go back to the driver, then it fails", "[allocator]") {
  FakeDevice dev;
  void* a = dev.pool.allocate(600 << 10);  // class 640 KiB
  REQUIRE(a);
  CHECK(dev.pool.deallocate(a));
  // 512 KiB does not fit beside the cached 640 KiB block in 1 MiB: the cache is released.
  void* b = dev.pool.allocate(512 << 10);
  REQUIRE(b);
  CHECK(dev.pool.stats().raw_frees == 1);
  CHECK(dev.pool.block_size(b) == (512 << 10));
  CHECK(dev.pool.allocate(900 << 10) == nullptr);
  CHECK(dev.pool.deallocate(b));
}
