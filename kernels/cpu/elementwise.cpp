// Memory, element-wise and per-channel kernels of the CPU backend.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <type_traits>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "kernels/common/philox.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/streaming.h"

namespace sire {

Backend& cpu_backend() {
  static cpu::CpuBackend backend;
  return backend;
}

namespace cpu {

constexpr int64_t kGrain = 1 << 15;  // elements per thread below which a loop stays serial

void* workspace(int slot, size_t bytes) {
  thread_local std::unique_ptr<Storage> buffers[4];
  std::unique_ptr<Storage>& b = buffers[slot];
  if (!b || b->bytes() < bytes) {
    b.reset();  // free first: the old and new buffers need not coexist
    b = std::make_unique<Storage>(bytes, Device::CPU);
  }
  return b->data();
}

void CpuBackend::fill(Tensor& t, double value) {
  const int64_t n = t.numel();
  auto run = [&](auto* p, auto v) {
    parallel_for(0, n, kGrain, [&](int64_t lo, int64_t hi) { std::fill(p + lo, p + hi, v); });
  };
  switch (t.dtype()) {
    case DType::F32: run(t.data<float>(), static_cast<float>(value)); break;
    case DType::F64: run(t.data<double>(), value); break;
    case DType::I32: run(t.data<int32_t>(), static_cast<int32_t>(value)); break;
  }
}

void CpuBackend::copy(const Tensor& src, Tensor& dst) {
  SIRE_CHECK(src.device() == Device::CPU && dst.device() == Device::CPU,
             "cpu copy: ", src.describe(), " -> ", dst.describe());
  const char* s = static_cast<const char*>(src.raw_data());
  char* d = static_cast<char*>(dst.raw_data());
  parallel_for(0, static_cast<int64_t>(src.nbytes()), kGrain * 4,
               [&](int64_t lo, int64_t hi) { std::memcpy(d + lo, s + lo, hi - lo); });
}

void CpuBackend::convert(const Tensor& src, Tensor& dst) {
  const int64_t n = src.numel();
  auto read = [&](int64_t i) -> double {
    switch (src.dtype()) {
      case DType::F32: return src.data<float>()[i];
      case DType::F64: return src.data<double>()[i];
      case DType::I32: return src.data<int32_t>()[i];
    }
    return 0;
  };
  for (int64_t i = 0; i < n; ++i) {
    switch (dst.dtype()) {
      case DType::F32: dst.data<float>()[i] = static_cast<float>(read(i)); break;
      case DType::F64: dst.data<double>()[i] = read(i); break;
      case DType::I32: dst.data<int32_t>()[i] = static_cast<int32_t>(read(i)); break;
    }
  }
}

// Applies f(i) for every element index, in parallel.
template <class F>
static void each(int64_t n, const F& f) {
  parallel_for(0, n, kGrain, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) f(i);
  });
}

// out[i] = f(a[i], b[i]) into an output of its own of 4 MiB or more, written past the caches: a
// plain store would first read each line it fills. fv is f on 16 floats at a time (the same
// operations, so the same bits); plain f before the output's first 64-byte boundary and after
// its last whole vector. False where it does not apply (smaller, in place, no AVX-512).
template <class F, class FV>
bool map2_streamed(const float* pa, const float* pb, float* out, int64_t n, const F& f,
                   const FV& fv) {
#if defined(__AVX512F__)
  if (n * int64_t{sizeof(float)} < kStreamBytes || out == pa || out == pb) return false;
  parallel_for(0, n, kGrain, [&](int64_t lo, int64_t hi) {
    int64_t i = lo;
    for (; i < hi && (reinterpret_cast<uintptr_t>(out + i) & 63) != 0; ++i)
      out[i] = f(pa[i], pb[i]);
    for (; i + 16 <= hi; i += 16)
      _mm512_stream_ps(out + i, fv(_mm512_loadu_ps(pa + i), _mm512_loadu_ps(pb + i)));
    for (; i < hi; ++i) out[i] = f(pa[i], pb[i]);
    _mm_sfence();
  });
  return true;
#else
  (void)pa, (void)pb, (void)out, (void)n, (void)f, (void)fv;
  return false;
#endif
}

// y = a + b (the first sum of a gradient with several consumers goes into a tensor of its own:
// 16 MiB at SIRe-CNN's 32x32 level).
static bool add_streamed(const float* pa, const float* pb, float* py, int64_t n) {
#if defined(__AVX512F__)
  return map2_streamed(
      pa, pb, py, n, [](float a, float b) { return a + b; },
      [](__m512 a, __m512 b) { return _mm512_add_ps(a, b); });
#else
  (void)pa, (void)pb, (void)py, (void)n;
  return false;
#endif
}

void CpuBackend::add(const Tensor& a, const Tensor& b, Tensor& y) {
  dispatch_float(a, "add", [&](auto tag) {
    using T = decltype(tag);
    const T *pa = a.data<T>(), *pb = b.data<T>();
    T* py = y.data<T>();
    if constexpr (std::is_same_v<T, float>)
      if (add_streamed(pa, pb, py, a.numel())) return;
    each(a.numel(), [&](int64_t i) { py[i] = pa[i] + pb[i]; });
  });
}

// y[i] = ((x0[i] + x1[i]) + x2[i]) + ... for K inputs, one loop: every input is a stream of its
// own, and y is written once.
template <size_t K, class T>
static void add_k(const T* const* in, T* py, int64_t lo, int64_t hi) {
#pragma omp simd
  for (int64_t i = lo; i < hi; ++i) {
    T s = in[0][i] + in[1][i];
    for (size_t k = 2; k < K; ++k) s += in[k][i];
    py[i] = s;
  }
}

// Up to 8 inputs in one pass; more in passes of 7 more each (into y, in order).
void CpuBackend::add_n(const std::vector<const Tensor*>& xs, Tensor& y) {
  SIRE_CHECK(xs.size() >= 2, "add_n: ", xs.size(), " tensors to sum");
  if (xs.size() == 2) return add(*xs[0], *xs[1], y);
  dispatch_float(y, "add_n", [&](auto tag) {
    using T = decltype(tag);
    T* py = y.data<T>();
    std::vector<const T*> in{xs[0]->data<T>()};
    for (size_t next = 1; next < xs.size();) {
      while (in.size() < 8 && next < xs.size()) in.push_back(xs[next++]->data<T>());
      const T* const* p = in.data();
      // add_k for each count of inputs, 2 to 8.
      using Kernel = void (*)(const T* const*, T*, int64_t, int64_t);
      static constexpr Kernel kAddK[] = {add_k<2, T>, add_k<3, T>, add_k<4, T>, add_k<5, T>,
                                         add_k<6, T>, add_k<7, T>, add_k<8, T>};
      const Kernel kernel = kAddK[in.size() - 2];
      parallel_for(0, y.numel(), kGrain, [&](int64_t lo, int64_t hi) { kernel(p, py, lo, hi); });
      in.assign(1, py);  // the partial sum is the next pass's first term
    }
  });
}

void CpuBackend::axpy(double alpha, const Tensor& x, Tensor& y) {
  dispatch_float(x, "axpy", [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    const T a = static_cast<T>(alpha);
    each(x.numel(), [&](int64_t i) { py[i] += a * px[i]; });
  });
}

void CpuBackend::scale(const Tensor& x, double alpha, Tensor& y) {
  dispatch_float(x, "scale", [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    const T a = static_cast<T>(alpha);
    each(x.numel(), [&](int64_t i) { py[i] = a * px[i]; });
  });
}

void CpuBackend::relu_forward(const Tensor& x, Tensor& y) {
  dispatch_float(x, "relu", [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    each(x.numel(), [&](int64_t i) { py[i] = px[i] > T(0) ? px[i] : T(0); });
  });
}

void CpuBackend::relu_backward(const Tensor& y, const Tensor& dy, Tensor& dx) {
  dispatch_float(y, "relu_backward", [&](auto tag) {
    using T = decltype(tag);
    const T *py = y.data<T>(), *pdy = dy.data<T>();
    T* pdx = dx.data<T>();
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<T, float>) {  // dy where y > 0 (ordered: not where y is NaN)
      const __m512 zero = _mm512_setzero_ps();
      if (map2_streamed(
              py, pdy, pdx, y.numel(), [](float v, float g) { return v > 0.0f ? g : 0.0f; },
              [&](__m512 v, __m512 g) {
                return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, zero, _CMP_GT_OQ), g);
              }))
        return;
    }
#endif
    // Both loads unconditional: a select, not a branch (random signs mispredict half the time).
    each(y.numel(), [&](int64_t i) {
      const T g = pdy[i], v = py[i];
      pdx[i] = v > T(0) ? g : T(0);
    });
  });
}

// Shared by dropout's forward (x -> y) and backward (dy -> dx): the same mask both ways.
static void dropout_apply(const Tensor& in, Tensor& out, double p, uint64_t seed,
                          uint64_t stream) {
  dispatch_float(in, "dropout", [&](auto tag) {
    using T = decltype(tag);
    const T* pi = in.data<T>();
    T* po = out.data<T>();
    const float keep_threshold = static_cast<float>(p);
    const T scale = p < 1.0 ? static_cast<T>(1.0 / (1.0 - p)) : T(0);
    // One Philox evaluation gives the four words of elements 4j .. 4j + 3 (philox_uniform's
    // numbering): evaluated once per group of four, not once per element (4x less work, the
    // same bits).
    const int64_t n = in.numel(), groups = (n + 3) / 4;
    parallel_for(0, groups, kGrain / 4, [&](int64_t lo, int64_t hi) {
      constexpr int64_t kBlock = 64;  // groups whose words are drawn in one vectorized loop
      uint32_t words[kBlock][4];
      for (int64_t j0 = lo; j0 < hi; j0 += kBlock) {
        const int64_t count = std::min(kBlock, hi - j0);
#pragma omp simd
        for (int64_t b = 0; b < count; ++b) {
          const Philox4 r = philox4x32(seed, static_cast<uint64_t>(j0 + b), stream);
          for (int w = 0; w < 4; ++w) words[b][w] = r.v[w];
        }
        for (int64_t i = 4 * j0; i < std::min(n, 4 * (j0 + count)); ++i) {
          const bool keep = uniform_from_bits(words[i / 4 - j0][i % 4]) >= keep_threshold;
          po[i] = keep ? pi[i] * scale : T(0);
        }
      }
    });
  });
}

void CpuBackend::dropout_forward(const Tensor& x, Tensor& y, double p, uint64_t seed,
                                 uint64_t stream) {
  dropout_apply(x, y, p, seed, stream);
}

void CpuBackend::dropout_backward(const Tensor& dy, Tensor& dx, double p, uint64_t seed,
                                  uint64_t stream) {
  dropout_apply(dy, dx, p, seed, stream);
}

void CpuBackend::channel_copy(const Tensor& src, int64_t src_c0, Tensor& dst, int64_t dst_c0,
                              int64_t count) {
  const int64_t N = src.size(0), inner = src.numel() / (N * src.size(1));
  const size_t es = dtype_size(src.dtype());
  const char* s = static_cast<const char*>(src.raw_data());
  char* d = static_cast<char*>(dst.raw_data());
  const int64_t sC = src.size(1), dC = dst.size(1);
  parallel_for(0, N, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, count * inner)),
               [&](int64_t lo, int64_t hi) {
                 for (int64_t n = lo; n < hi; ++n)
                   std::memcpy(d + ((n * dC + dst_c0) * inner) * es,
                               s + ((n * sC + src_c0) * inner) * es, count * inner * es);
               });
}

void CpuBackend::bias_add(Tensor& y, const Tensor& bias) {
  dispatch_float(y, "bias_add", [&](auto tag) {
    using T = decltype(tag);
    const int64_t N = y.size(0), C = y.size(1), inner = y.numel() / (N * C);
    T* py = y.data<T>();
    const T* pb = bias.data<T>();
    parallel_for(0, N * C, std::max<int64_t>(1, kGrain / std::max<int64_t>(inner, 1)),
                 [&](int64_t lo, int64_t hi) {
                   for (int64_t nc = lo; nc < hi; ++nc) {
                     const T b = pb[nc % C];
                     T* row = py + nc * inner;
                     for (int64_t i = 0; i < inner; ++i) row[i] += b;
                   }
                 });
  });
}

void CpuBackend::channel_sum(const Tensor& x, Tensor& out) {
  dispatch_float(x, "channel_sum", [&](auto tag) {
    using T = decltype(tag);
    const int64_t N = x.size(0), C = x.size(1), inner = x.numel() / (N * C);
    const T* px = x.data<T>();
    T* po = out.data<T>();
    parallel_for(0, C, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t c = lo; c < hi; ++c) {
        double s = 0.0;
        for (int64_t n = 0; n < N; ++n) {
          const T* row = px + (n * C + c) * inner;
#pragma omp simd reduction(+ : s)
          for (int64_t i = 0; i < inner; ++i) s += row[i];
        }
        po[c] = static_cast<T>(s);
      }
    });
  });
}

// One chunk of the SGD step. The variant is chosen outside the loop and the pointers are local
// and restrict-qualified: with the branches inside and the pointers reached through a closure,
// GCC kept the loop scalar (24 GB/s against 60 for a copy).
template <class T, bool Momentum, bool First, bool Nesterov>
void sgd_chunk(T* __restrict p, const T* __restrict g, T* __restrict buf, int64_t lo, int64_t hi,
               T lr, T wd, T mom, T damp) {
#pragma omp simd
  for (int64_t i = lo; i < hi; ++i) {
    T d = g[i] + wd * p[i];
    if (Momentum) {
      const T b = First ? d : mom * buf[i] + damp * d;
      buf[i] = b;
      d = Nesterov ? d + mom * b : b;
    }
    p[i] -= lr * d;
  }
}

void CpuBackend::sgd_update(Tensor& param, const Tensor& grad, Tensor* momentum_buffer,
                            const SgdStep& st) {
  dispatch_float(param, "sgd_update", [&](auto tag) {
    using T = decltype(tag);
    T* p = param.data<T>();
    const T* g = grad.data<T>();
    T* buf = momentum_buffer ? momentum_buffer->data<T>() : nullptr;
    const T lr = static_cast<T>(st.lr), wd = static_cast<T>(st.weight_decay),
            mom = static_cast<T>(st.momentum), damp = static_cast<T>(1.0 - st.dampening);
    auto chunk = [&](auto momentum, auto first, auto nesterov) {
      parallel_for(0, param.numel(), kGrain, [&](int64_t lo, int64_t hi) {
        sgd_chunk<T, decltype(momentum)::value, decltype(first)::value, decltype(nesterov)::value>(
            p, g, buf, lo, hi, lr, wd, mom, damp);
      });
    };
    using Yes = std::true_type;
    using No = std::false_type;
    if (!buf) return chunk(No{}, No{}, No{});
    if (st.first) return st.nesterov ? chunk(Yes{}, Yes{}, Yes{}) : chunk(Yes{}, Yes{}, No{});
    return st.nesterov ? chunk(Yes{}, No{}, Yes{}) : chunk(Yes{}, No{}, No{});
  });
}

}  // namespace cpu
}  // namespace sire
