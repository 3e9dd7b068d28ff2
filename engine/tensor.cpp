#include "engine/tensor.h"

#include <atomic>
#include <algorithm>
#include <cstring>

#include "engine/backend.h"

namespace sire {
namespace {
std::atomic<int64_t> g_transfer_bytes{0};
}  // namespace

int64_t transfer_bytes() { return g_transfer_bytes.load(); }

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  // The byte count, refusing sizes whose product overflows (a damaged file's shape) before
  // anything multiplies them unchecked.
  int64_t bytes = static_cast<int64_t>(dtype_size(dtype));
  for (int64_t d : shape) {
    SIRE_CHECK(d >= 0, "tensor shape ", shape, " has a negative extent");
    SIRE_CHECK(!__builtin_mul_overflow(bytes, d, &bytes), "tensor shape ", shape,
               " is too large to address (over 2^63 bytes)");
  }
  Tensor t;
  t.storage_ = std::make_shared<Storage>(static_cast<size_t>(bytes), device);
  t.shape_ = shape;
  t.dtype_ = dtype;
  return t;
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  return full(shape, 0.0, dtype, device);
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.fill_(value);
  return t;
}

Tensor Tensor::scalar(double value, DType dtype, Device device) {
  return full(Shape{}, value, dtype, device);
}

Tensor Tensor::from_vector(const Shape& shape, const std::vector<double>& values, DType dtype) {
  SIRE_CHECK(static_cast<int64_t>(values.size()) == sire::numel(shape), "from_vector: ",
             values.size(), " values for shape ", shape);
  Tensor t = empty(shape, dtype, Device::CPU);
  for (size_t i = 0; i < values.size(); ++i) {
    switch (dtype) {
      case DType::F32: t.data<float>()[i] = static_cast<float>(values[i]); break;
      case DType::F64: t.data<double>()[i] = values[i]; break;
      case DType::I32: t.data<int32_t>()[i] = static_cast<int32_t>(values[i]); break;
    }
  }
  return t;
}

Tensor Tensor::from_vector(const Shape& shape, const std::vector<float>& values) {
  SIRE_CHECK(static_cast<int64_t>(values.size()) == sire::numel(shape), "from_vector: ",
             values.size(), " values for shape ", shape);
  Tensor t = empty(shape, DType::F32, Device::CPU);
  std::memcpy(t.raw_data(), values.data(), values.size() * sizeof(float));
  return t;
}

Tensor Tensor::from_vector(const Shape& shape, const std::vector<int32_t>& values) {
  SIRE_CHECK(static_cast<int64_t>(values.size()) == sire::numel(shape), "from_vector: ",
             values.size(), " values for shape ", shape);
  Tensor t = empty(shape, DType::I32, Device::CPU);
  std::memcpy(t.raw_data(), values.data(), values.size() * sizeof(int32_t));
  return t;
}

int64_t Tensor::size(int dim) const {
  int d = dim < 0 ? dim + ndim() : dim;
  SIRE_CHECK(d >= 0 && d < ndim(), "dimension ", dim, " out of range for shape ", shape_);
  return shape_[d];
}

Device Tensor::device() const {
  SIRE_CHECK(defined(), "device() of an undefined tensor");
  return storage_->device();
}

void* Tensor::raw_data() {
  SIRE_CHECK(defined(), "data of an undefined tensor");
  return static_cast<char*>(storage_->data()) + offset_;
}

const void* Tensor::raw_data() const {
  SIRE_CHECK(defined(), "data of an undefined tensor");
  return static_cast<const char*>(storage_->data()) + offset_;
}

void Tensor::check_type(DType t) const {
  SIRE_CHECK(t == dtype_, "tensor ", describe(), " accessed as ", dtype_name(t));
}

Tensor Tensor::reshape(const Shape& shape) const {
  Shape s = shape;
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      SIRE_CHECK(infer < 0, "reshape ", describe(), " to ", shape, ": more than one -1");
      infer = static_cast<int>(i);
    } else {
      known *= s[i];
    }
  }
  if (infer >= 0) {
    SIRE_CHECK(known > 0 && numel() % known == 0, "reshape ", describe(), " to ", shape,
               ": sizes do not divide");
    s[infer] = numel() / known;
  }
  SIRE_CHECK(sire::numel(s) == numel(), "reshape ", describe(), " to ", shape,
             ": element counts differ (", numel(), " vs ", sire::numel(s), ")");
  Tensor t = *this;
  t.shape_ = s;
  return t;
}

Tensor Tensor::narrow(int64_t begin, int64_t end) const {
  SIRE_CHECK(ndim() >= 1 && 0 <= begin && begin <= end && end <= shape_[0], "narrow ", describe(),
             " to rows [", begin, ", ", end, ")");
  Tensor t = *this;
  t.shape_[0] = end - begin;
  t.offset_ += static_cast<size_t>(begin) * static_cast<size_t>(numel() / std::max<int64_t>(shape_[0], 1)) *
               dtype_size(dtype_);
  return t;
}

Tensor Tensor::to(Device device) const {
  if (device == this->device()) return *this;
  Tensor t = empty(shape_, dtype_, device);
  t.copy_from(*this);
  return t;
}

Tensor Tensor::to(DType dtype) const {
  if (dtype == dtype_) return *this;
  Tensor t = empty(shape_, dtype, device());
  backend_for(device()).convert(*this, t);
  return t;
}

Tensor Tensor::clone() const {
  Tensor t = empty(shape_, dtype_, device());
  t.copy_from(*this);
  return t;
}

void Tensor::copy_from(const Tensor& src) {
  SIRE_CHECK(src.shape_ == shape_ && src.dtype_ == dtype_, "copy ", src.describe(), " into ",
             describe(), ": shapes or types differ");
  if (src.device() == device()) {
    backend_for(device()).copy(src, *this);
    return;
  }
  // Exactly one side is the GPU: its backend does the transfer.
  Device gpu = device() == Device::CPU ? src.device() : device();
  backend_for(gpu).copy(src, *this);
  g_transfer_bytes.fetch_add(static_cast<int64_t>(nbytes()));
}

void Tensor::fill_(double value) { backend_for(device()).fill(*this, value); }

std::vector<double> Tensor::to_vector() const {
  SIRE_CHECK(device() == Device::CPU, "to_vector of ", describe(),
             ": copy it to the CPU first with .to(Device::CPU)");
  std::vector<double> out(static_cast<size_t>(numel()));
  for (size_t i = 0; i < out.size(); ++i) {
    switch (dtype_) {
      case DType::F32: out[i] = data<float>()[i]; break;
      case DType::F64: out[i] = data<double>()[i]; break;
      case DType::I32: out[i] = data<int32_t>()[i]; break;
    }
  }
  return out;
}

double Tensor::item() const {
  SIRE_CHECK(numel() == 1, "item() of ", describe(), ": not a single element");
  return to_vector()[0];
}

std::string Tensor::describe() const {
  if (!defined()) return "undefined tensor";
  return str(dtype_name(dtype_), shape_, " on ", device_name(device()));
}

}  // namespace sire
