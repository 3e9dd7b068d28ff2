#include <catch2/catch.hpp>

#include "engine/backend.h"
#include "engine/tensor.h"

using namespace sire;

TEST_CASE("tensor basics", "[tensor]") {
  Tensor t = Tensor::zeros({2, 3, 4});
  CHECK(t.numel() == 24);
  CHECK(t.size(-1) == 4);
  CHECK(t.dtype() == DType::F32);
  CHECK(t.device() == Device::CPU);
  CHECK(t.describe() == "f32[2, 3, 4] on cpu");
  CHECK(reinterpret_cast<uintptr_t>(t.raw_data()) % 64 == 0);
  for (double v : t.to_vector()) CHECK(v == 0.0);
  t.fill_(2.5);
  CHECK(t.to_vector()[23] == 2.5);
  CHECK(Tensor::scalar(3.0).shape().empty());
  CHECK(Tensor::scalar(3.0).item() == 3.0);
}

TEST_CASE("reshape and narrow are views; clone copies", "[tensor]") {
  Tensor t = Tensor::from_vector({2, 3}, std::vector<float>{0, 1, 2, 3, 4, 5});
  Tensor r = t.reshape({3, -1});
  CHECK(r.shape() == Shape{3, 2});
  CHECK(r.shares_storage_with(t));
  Tensor rows = t.narrow(1, 2);
  CHECK(rows.shape() == Shape{1, 3});
  CHECK(rows.to_vector() == std::vector<double>{3, 4, 5});
  Tensor c = t.clone();
  c.fill_(9);
  CHECK(t.to_vector()[0] == 0.0);
  CHECK_THROWS_WITH(t.reshape({4, 2}), Catch::Contains("[2, 3]") && Catch::Contains("[4, 2]"));
  CHECK_THROWS_AS(t.narrow(1, 3), Error);
}

TEST_CASE("dtype conversion and typed access", "[tensor]") {
  Tensor t = Tensor::from_vector({3}, std::vector<double>{1.5, -2.25, 3}, DType::F64);
  Tensor f = t.to(DType::F32);
  CHECK(f.dtype() == DType::F32);
  CHECK(f.to_vector()[1] == -2.25);
  CHECK_THROWS_WITH(f.data<double>(), Catch::Contains("accessed as f64"));
  CHECK(t.to(DType::F64).shares_storage_with(t));
}

TEST_CASE("memory statistics follow allocations", "[tensor]") {
  const MemoryStats before = memory_stats(Device::CPU);
  {
    Tensor t = Tensor::empty({1024, 1024});
    const MemoryStats during = memory_stats(Device::CPU);
    CHECK(during.current_bytes - before.current_bytes >= 4 << 20);
    CHECK(during.peak_bytes >= during.current_bytes);
  }
  CHECK(memory_stats(Device::CPU).current_bytes == before.current_bytes);
}

TEST_CASE("the GPU is refused clearly when absent", "[tensor]") {
  if (cuda_available()) return;
  CHECK_THROWS_WITH(Tensor::empty({2}, DType::F32, Device::CUDA), Catch::Contains("cuda"));
  CHECK_THROWS_WITH(parse_device("tpu"), Catch::Contains("unknown device 'tpu'"));
}

TEST_CASE("a GPU tensor without a GPU is a clear error", "[tensor]") {
  if (cuda_available()) return;  // tests/test_cuda_ops.cpp covers the GPU
  CHECK_THROWS_WITH(Tensor::empty({2, 3}, DType::F32, Device::CUDA), Catch::Contains("GPU"));
  CHECK_THROWS_WITH(backend_for(Device::CUDA), Catch::Contains("GPU"));
}
