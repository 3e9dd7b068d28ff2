// Tensor: a dense, contiguous, row-major (NCHW for images) array of one element type on one
// device. A Tensor is a handle: copies share the storage; clone() copies the numbers. It knows
// nothing about gradients (that is Variable's job, in engine/autograd).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/device.h"
#include "engine/dtype.h"
#include "engine/error.h"
#include "engine/shape.h"
#include "engine/storage.h"

namespace sire {

class Tensor {
 public:
  Tensor() = default;  // undefined: no storage

  static Tensor empty(const Shape& shape, DType dtype = DType::F32, Device device = Device::CPU);
  static Tensor zeros(const Shape& shape, DType dtype = DType::F32, Device device = Device::CPU);
  static Tensor full(const Shape& shape, double value, DType dtype = DType::F32,
                     Device device = Device::CPU);
  static Tensor scalar(double value, DType dtype = DType::F32, Device device = Device::CPU);
  // A CPU tensor holding `values` (converted to `dtype`).
  static Tensor from_vector(const Shape& shape, const std::vector<double>& values,
                            DType dtype = DType::F32);
  static Tensor from_vector(const Shape& shape, const std::vector<float>& values);
  static Tensor from_vector(const Shape& shape, const std::vector<int32_t>& values);

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  int ndim() const { return static_cast<int>(shape_.size()); }
  int64_t size(int dim) const;  // negative dims count from the end
  int64_t numel() const { return sire::numel(shape_); }
  DType dtype() const { return dtype_; }
  Device device() const;
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }

  // Typed access to the first element; the type must match dtype().
  template <class T>
  T* data() {
    check_type(dtype_of<T>());
    return static_cast<T*>(raw_data());
  }
  template <class T>
  const T* data() const {
    check_type(dtype_of<T>());
    return static_cast<const T*>(raw_data());
  }
  void* raw_data();
  const void* raw_data() const;

  // Views that share storage.
  Tensor reshape(const Shape& shape) const;          // same numel; one extent may be -1
  Tensor narrow(int64_t begin, int64_t end) const;   // rows [begin, end) of dimension 0

  // Copies. to() returns *this when nothing changes, and a fresh copy otherwise.
  Tensor to(Device device) const;
  Tensor to(DType dtype) const;
  Tensor clone() const;
  void copy_from(const Tensor& src);  // same shape and dtype; devices may differ
  void fill_(double value);
  void zero_() { fill_(0.0); }

  // Reading numbers back (CPU tensors only: no hidden device-to-host copies).
  std::vector<double> to_vector() const;
  double item() const;

  bool shares_storage_with(const Tensor& other) const { return storage_ == other.storage_; }
  // No other handle (copy or view) shares this tensor's storage: it may be changed in place
  // without anyone else seeing it.
  bool sole_owner() const { return storage_ != nullptr && storage_.use_count() == 1; }
  std::string describe() const;  // "f32[64, 3, 32, 32] on cpu"

 private:
  void check_type(DType t) const;

  std::shared_ptr<Storage> storage_;
  size_t offset_ = 0;  // bytes from the start of the storage
  Shape shape_;
  DType dtype_ = DType::F32;
};

// Bytes moved between host and device since start: transfers are explicit and countable.
int64_t transfer_bytes();

}  // namespace sire
