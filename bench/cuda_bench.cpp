#include "bench/cuda_bench.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <vector>

#include "engine/random.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/runtime.h"

namespace sire::bench {

cudnnHandle_t cudnn() {
  static cudnnHandle_t h = [] {
    cudnnHandle_t handle = nullptr;
    SIRE_CUDNN_CHECK(cudnnCreate(&handle));
    SIRE_CUDNN_CHECK(cudnnSetStream(handle, 0));  // the stream our kernels run on
    return handle;
  }();
  return h;
}

namespace {
// Twice the L2 size, written before each timed repetition, so that no input stays cached.
void flush_l2() {
  static Tensor buffer = Tensor::empty(
      {std::max<int64_t>(cuda::device_info().l2_bytes / 2, 1 << 20)}, DType::F32, Device::CUDA);
  SIRE_CUDA_CHECK(cudaMemsetAsync(buffer.raw_data(), 0, buffer.nbytes(), 0));
}
}  // namespace

double median_ms(const std::function<void()>& f, int warmup, int reps) {
  for (int i = 0; i < warmup; ++i) f();
  cudaEvent_t start, stop;
  SIRE_CUDA_CHECK(cudaEventCreate(&start));
  SIRE_CUDA_CHECK(cudaEventCreate(&stop));
  std::vector<float> ms(static_cast<size_t>(reps));
  for (int i = 0; i < reps; ++i) {
    flush_l2();
    SIRE_CUDA_CHECK(cudaEventRecord(start, 0));
    f();
    SIRE_CUDA_CHECK(cudaEventRecord(stop, 0));
    SIRE_CUDA_CHECK(cudaEventSynchronize(stop));
    SIRE_CUDA_CHECK(cudaEventElapsedTime(&ms[static_cast<size_t>(i)], start, stop));
  }
  SIRE_CUDA_CHECK(cudaEventDestroy(start));
  SIRE_CUDA_CHECK(cudaEventDestroy(stop));
  std::nth_element(ms.begin(), ms.begin() + reps / 2, ms.end());
  return ms[static_cast<size_t>(reps / 2)];
}

double copy_bandwidth_gbs() {
  static const double gbs = [] {
    const int64_t n = int64_t{128} << 20;  // 512 MiB of floats
    Tensor a = random_device({n}, 99), b = Tensor::empty({n}, DType::F32, Device::CUDA);
    const double ms = median_ms([&] {
      SIRE_CUDA_CHECK(
          cudaMemcpyAsync(b.raw_data(), a.raw_data(), a.nbytes(), cudaMemcpyDeviceToDevice, 0));
    });
    return 2.0 * static_cast<double>(a.nbytes()) / (ms * 1e6);
  }();
  return gbs;
}

double copy_bandwidth_gbs(double bytes_moved) {
  static std::map<int64_t, double> measured;
  const int64_t n = std::max<int64_t>(1, static_cast<int64_t>(bytes_moved / 8));  // floats copied
  auto it = measured.find(n);
  if (it != measured.end()) return it->second;
  Tensor a = random_device({n}, 98), b = Tensor::empty({n}, DType::F32, Device::CUDA);
  const double ms = median_ms([&] {
    SIRE_CUDA_CHECK(
        cudaMemcpyAsync(b.raw_data(), a.raw_data(), a.nbytes(), cudaMemcpyDeviceToDevice, 0));
  });
  return measured[n] = 2.0 * static_cast<double>(a.nbytes()) / (ms * 1e6);
}

Tensor random_device(const Shape& shape, uint64_t seed) {
  Tensor t = Tensor::empty(shape, DType::F32, Device::CUDA);
  Generator(seed).fill_uniform(t, -1.0, 1.0);
  return t;
}

double relative_l2(const Tensor& a, const Tensor& b) {
  const std::vector<double> x = a.to(Device::CPU).to_vector(), y = b.to(Device::CPU).to_vector();
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < x.size(); ++i) {
    num += (x[i] - y[i]) * (x[i] - y[i]);
    den += y[i] * y[i];
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

std::string device_description() {
  const cuda::DeviceInfo& d = cuda::device_info();
  const size_t v = cudnnGetVersion();
  return str(d.name, ", sm_", d.major, d.minor, ", ", d.sm_count, " SMs, cuDNN ", v / 10000, ".",
             (v / 100) % 100, ".", v % 100);
}

TensorDesc::TensorDesc(int n, int c, int h, int w) {
  SIRE_CUDNN_CHECK(cudnnCreateTensorDescriptor(&d));
  SIRE_CUDNN_CHECK(cudnnSetTensor4dDescriptor(d, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, n, c, h, w));
}

TensorDesc::~TensorDesc() { cudnnDestroyTensorDescriptor(d); }

}  // namespace sire::bench
