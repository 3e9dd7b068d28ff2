#include "engine/backend.h"

namespace sire {

#ifndef SIRE_WITH_CUDA
Backend* cuda_backend() { return nullptr; }
#endif

Backend& backend_for(Device device) {
  if (device == Device::CPU) return cpu_backend();
  Backend* cuda = cuda_backend();
  SIRE_CHECK(cuda != nullptr,
#ifdef SIRE_WITH_CUDA
             "a tensor is on the GPU but no CUDA device is present"
#else
             "a tensor is on the GPU but this build has no CUDA backend (configure with "
             "-DSIRE_CUDA=ON)"
#endif
  );
  return *cuda;
}

bool cuda_available() { return cuda_backend() != nullptr; }

void Backend::sum_abs(const Tensor& x, Tensor& out) {
  Tensor host = x.to(Device::CPU);
  Tensor r = Tensor::empty({}, x.dtype(), Device::CPU);
  cpu_backend().sum_abs(host, r);
  out.copy_from(r.to(out.device()));
}

}  // namespace sire
