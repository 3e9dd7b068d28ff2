// fill, copy (within the GPU and across host and device) and dtype conversion.
#include <cstring>

#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/runtime.h"

namespace sire::cuda {
namespace {

__global__ void fill_words(uint32_t* p, int64_t n, uint32_t bits) {
  SIRE_GRID_LOOP(i, n) p[i] = bits;
}

__global__ void f32_to_i32(const float* src, int32_t* dst, int64_t n) {
  SIRE_GRID_LOOP(i, n) dst[i] = static_cast<int32_t>(src[i]);
}

__global__ void i32_to_f32(const int32_t* src, float* dst, int64_t n) {
  SIRE_GRID_LOOP(i, n) dst[i] = static_cast<float>(src[i]);
}

}  // namespace

void CudaBackend::synchronize() { cuda::synchronize(); }

void CudaBackend::fill(Tensor& t, double value) {
  SIRE_CHECK(t.dtype() != DType::F64, "fill: the CUDA backend holds f32 and i32 only; got ",
             t.describe());
  const int64_t n = t.numel();
  if (n == 0) return;
  uint32_t bits;
  if (t.dtype() == DType::F32) {
    const float f = static_cast<float>(value);
    std::memcpy(&bits, &f, 4);
  } else {
    const int32_t i = static_cast<int32_t>(value);
    std::memcpy(&bits, &i, 4);
  }
  if (bits == 0) {  // zeros (the common case) as a memset
    SIRE_CUDA_CHECK(cudaMemsetAsync(t.raw_data(), 0, t.nbytes(), 0));
    return;
  }
  SIRE_LAUNCH(fill_words, grid_for(n), kBlock, static_cast<uint32_t*>(t.raw_data()), n, bits);
}

// Any dtype: copies are bytes. Host <-> device copies are synchronous (the host reads or frees
// its buffer right after); device-to-device copies are queued like kernels.
void CudaBackend::copy(const Tensor& src, Tensor& dst) {
  SIRE_CHECK(src.nbytes() == dst.nbytes(), "copy: ", src.describe(), " -> ", dst.describe(),
             ": byte counts differ");
  if (src.nbytes() == 0) return;
  if (src.device() == Device::CUDA && dst.device() == Device::CUDA) {
    SIRE_CUDA_CHECK(
        cudaMemcpyAsync(dst.raw_data(), src.raw_data(), src.nbytes(), cudaMemcpyDeviceToDevice, 0));
    return;
  }
  const cudaMemcpyKind kind =
      src.device() == Device::CUDA ? cudaMemcpyDeviceToHost : cudaMemcpyHostToDevice;
  SIRE_CHECK(src.device() != dst.device(), "cuda copy: ", src.describe(), " -> ", dst.describe(),
             ": neither side is on the GPU");
  SIRE_CUDA_CHECK(cudaMemcpy(dst.raw_data(), src.raw_data(), src.nbytes(), kind));
  if (kind == cudaMemcpyDeviceToHost) check_pending_labels();  // the host waited anyway
}

void CudaBackend::convert(const Tensor& src, Tensor& dst) {
  const int64_t n = src.numel();
  SIRE_CHECK(src.dtype() != DType::F64 && dst.dtype() != DType::F64,
             "convert: the CUDA backend holds f32 and i32 only; got ", src.describe(), " -> ",
             dst.describe());
  if (src.dtype() == dst.dtype()) return copy(src, dst);
  if (n == 0) return;
  if (src.dtype() == DType::F32)
    SIRE_LAUNCH(f32_to_i32, grid_for(n), kBlock, src.data<float>(), dst.data<int32_t>(), n);
  else
    SIRE_LAUNCH(i32_to_f32, grid_for(n), kBlock, src.data<int32_t>(), dst.data<float>(), n);
}

}  // namespace sire::cuda
