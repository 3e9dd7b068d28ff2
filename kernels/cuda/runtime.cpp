// The CUDA backend's run-time: finding the GPU, the caching allocator, checked-call errors, the
// math mode, the cuBLAS handle. Plain C++ against the CUDA runtime API.
#include "kernels/cuda/runtime.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "engine/caching_pool.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/context.h"
#include "kernels/cuda/cuda_backend.h"

namespace sire {
namespace cuda {
namespace {

bool env_is(const char* name, const char* value) {
  const char* v = std::getenv(name);
  return v && std::strcmp(v, value) == 0;
}

std::atomic<int> g_math{static_cast<int>(env_is("SIRE_CUDA_MATH", "tf32")     ? Math::kTF32
                                         : env_is("SIRE_CUDA_MATH", "3xtf32") ? Math::kTF32x3
                                                                              : Math::kFP32)};
std::atomic<bool> g_poison{env_is("SIRE_CUDA_POISON", "1")};
std::atomic<int> g_staging{env_is("SIRE_CUDA_CONV_STAGING", "registers") ? 1 : 0};
std::atomic<bool> g_tiles_fill{env_is("SIRE_CUDA_CONV_TILES", "fill")};
std::atomic<int> g_winograd{static_cast<int>(env_is("SIRE_CUDA_WINOGRAD", "0") ? Winograd::kOff
                                             : env_is("SIRE_CUDA_WINOGRAD", "1")
                                                 ? Winograd::kAlways
                                                 : Winograd::kAuto)};
const bool g_sync_after_launch = env_is("SIRE_CUDA_SYNC", "1");
std::atomic<int64_t> g_winograd_chunk{-1};  // negative: the default (or the environment's)
constexpr int64_t kDefaultWinogradChunkBytes = int64_t{256} << 20;  // runtime.h says why

// Device 0, or nothing: the answer is decided once.
bool gpu_present() {
  static const bool present = [] {
    int n = 0;
    const cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0) {
      (void)cudaGetLastError();  // no driver or no device: not an error, just no GPU
      return false;
    }
    return cudaSetDevice(0) == cudaSuccess;
  }();
  return present;
}

// The engine's Allocator for Device::CUDA, over a CachingPool of cudaMalloc'd blocks.
class DeviceAllocator final : public Allocator {
 public:
  void* allocate(size_t bytes) override {
    SIRE_CHECK(gpu_present(), "cannot allocate ", bytes,
               " bytes on the GPU: no CUDA device is present");
    void* p = pool_.allocate(bytes);
    if (!p) {
      const CachingPool::Stats s = pool_.stats();
      size_t free_bytes = 0, total_bytes = 0;
      (void)cudaMemGetInfo(&free_bytes, &total_bytes);
      SIRE_FAIL("out of GPU memory allocating ", bytes, " bytes (", s.reserved_bytes,
                " bytes held by sire, ", free_bytes, " of ", total_bytes, " free on the device)");
    }
    if (g_poison.load()) SIRE_CUDA_CHECK(cudaMemsetAsync(p, 0xFF, pool_.block_size(p), 0));
    return p;
  }
  void deallocate(void* ptr, size_t bytes) override {
    SIRE_CHECK(pool_.deallocate(ptr), "GPU free of ", bytes, " bytes at ", ptr,
               ": not a block of the caching allocator");
  }
  CachingPool& pool() { return pool_; }

 private:
  CachingPool pool_{[](size_t bytes) -> void* {
                      void* p = nullptr;
                      const cudaError_t e = cudaMalloc(&p, bytes);
                      if (e == cudaErrorMemoryAllocation) {
                        (void)cudaGetLastError();
                        return nullptr;
                      }
                      SIRE_CUDA_CHECK(e);
                      return p;
                    },
                    [](void* p) { SIRE_CUDA_CHECK(cudaFree(p)); }};
};

// Never destroyed: tensors in static objects may be freed after main returns.
DeviceAllocator& device_allocator() {
  static DeviceAllocator* a = new DeviceAllocator();
  return *a;
}

// Registered before main, without touching the GPU: the first allocation finds the device.
const bool g_registered = [] {
  register_allocator(Device::CUDA, &device_allocator());
  return true;
}();

}  // namespace

namespace detail {

void cuda_fail(cudaError_t e, const char* call, const char* file, int line) {
  ::sire::detail::fail(
      file, line, str(call, " failed: ", cudaGetErrorName(e), " (", cudaGetErrorString(e), ")"));
}

void cublas_fail(cublasStatus_t s, const char* call, const char* file, int line) {
  ::sire::detail::fail(
      file, line,
      str(call, " failed: ", cublasGetStatusName(s), " (", cublasGetStatusString(s), ")"));
}

void after_launch(const char* kernel, const char* file, int line) {
  cudaError_t e = cudaGetLastError();
  if (e == cudaSuccess && g_sync_after_launch) e = cudaDeviceSynchronize();
  if (e != cudaSuccess) cuda_fail(e, str("launch of ", kernel).c_str(), file, line);
}

}  // namespace detail

void set_math(Math m) {
  if (m != Math::kFP32)
    SIRE_CHECK(device_info().major >= 8, "set_math(", math_name(m), "): ", device_info().name,
               " (sm_", device_info().major, device_info().minor, ") has no TF32 tensor cores");
  g_math.store(static_cast<int>(m));
}

Math math() { return static_cast<Math>(g_math.load()); }

const char* math_name(Math m) { return gpu_math_name(m); }

void set_conv_staging(Staging st) { g_staging.store(st == Staging::kRegisters ? 1 : 0); }

Staging conv_staging() { return g_staging.load() == 1 ? Staging::kRegisters : Staging::kPipelined; }

const char* staging_name(Staging st) {
  return st == Staging::kRegisters ? "registers" : "pipelined";
}

void set_conv_tiles_fill(bool fill) { g_tiles_fill.store(fill); }

bool conv_tiles_fill() { return g_tiles_fill.load(); }

void set_conv_winograd(Winograd use) { g_winograd.store(static_cast<int>(use)); }

Winograd conv_winograd() { return static_cast<Winograd>(g_winograd.load()); }

const char* winograd_name(Winograd use) {
  return use == Winograd::kOff ? "off" : use == Winograd::kAlways ? "always" : "auto";
}

void set_winograd_chunk_bytes(int64_t bytes) { g_winograd_chunk.store(bytes < 0 ? -1 : bytes); }

int64_t winograd_chunk_bytes() {
  const int64_t set = g_winograd_chunk.load();
  if (set >= 0) return set;
  // SIRE_CUDA_WINOGRAD_CHUNK_MIB, read once; a malformed value is an error, not the default.
  static const int64_t from_env = [] {
    const char* v = std::getenv("SIRE_CUDA_WINOGRAD_CHUNK_MIB");
    if (!v || !*v) return int64_t{-1};
    char* end = nullptr;
    const long long mib = std::strtoll(v, &end, 10);
    SIRE_CHECK(*end == '\0' && mib >= 0 && mib < (1LL << 30),
               "SIRE_CUDA_WINOGRAD_CHUNK_MIB: expected a whole number of MiB (0: no chunks), got '",
               v, "'");
    return static_cast<int64_t>(mib) << 20;
  }();
  return from_env >= 0 ? from_env : kDefaultWinogradChunkBytes;
}

const DeviceInfo& device_info() {
  static const DeviceInfo info = [] {
    SIRE_CHECK(gpu_present(), "device_info: no CUDA device is present");
    cudaDeviceProp p{};
    SIRE_CUDA_CHECK(cudaGetDeviceProperties(&p, 0));
    DeviceInfo d;
    d.name = p.name;
    d.sm_count = p.multiProcessorCount;
    d.major = p.major;
    d.minor = p.minor;
    d.global_bytes = static_cast<int64_t>(p.totalGlobalMem);
    d.l2_bytes = p.l2CacheSize;
    return d;
  }();
  return info;
}

void synchronize() {
  SIRE_CUDA_CHECK(cudaDeviceSynchronize());
  check_pending_labels();  // errors the kernels flagged for the host (loss.cu)
}

AllocatorStats allocator_stats() {
  const CachingPool::Stats s = device_allocator().pool().stats();
  return AllocatorStats{s.raw_allocs, s.raw_frees, s.cached_bytes, s.reserved_bytes};
}

void release_cached_memory() {
  if (gpu_present()) SIRE_CUDA_CHECK(cudaDeviceSynchronize());  // no kernel may still use one
  device_allocator().pool().release();
}

void set_poison_allocations(bool on) { g_poison.store(on); }

cublasHandle_t cublas_handle() {
  static cublasHandle_t handle = [] {
    cublasHandle_t h = nullptr;
    SIRE_CUBLAS_CHECK(cublasCreate(&h));
    SIRE_CUBLAS_CHECK(cublasSetStream(h, 0));
    return h;
  }();
  // cuBLAS has no 3xTF32: dense layers run in FP32 then (they are a small part of a step).
  SIRE_CUBLAS_CHECK(cublasSetMathMode(
      handle, math() == Math::kTF32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
  return handle;
}

}  // namespace cuda

// The engine asks for the backend through this (engine/backend.cpp); null without a GPU.
Backend* cuda_backend() {
  static cuda::CudaBackend backend;
  (void)cuda::g_registered;
  return cuda::gpu_present() ? &backend : nullptr;
}

}  // namespace sire
