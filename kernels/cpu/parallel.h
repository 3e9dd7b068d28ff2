// CPU threading: every parallel loop of the CPU backend goes through parallel_for, on OpenMP's
// thread pool, which OpenBLAS (the OpenMP build) shares, so the two never fight over the cores.
//
// Results do not depend on the number of threads: loops split work only where each output
// element is written by one thread, and reductions use fixed-size blocks summed in order.
// Inner sums use `omp simd` reductions: vector lanes in a split fixed by the build, so the
// bits are the same on every run of a given binary.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace sire::cpu {

inline int max_threads() {
#ifdef _OPENMP
  return omp_in_parallel() ? 1 : omp_get_max_threads();
#else
  return 1;
#endif
}

// Calls f(lo, hi) on disjoint ranges covering [begin, end), in parallel when there are at least
// `grain` iterations per thread. The ranges are claimed one after another (up to 8 per thread),
// not split in equal halves: on a shared machine one core is often slower than the other, and a
// static split would leave the fast thread waiting at every op. Which thread runs a range never
// changes what the range computes, so results stay the same.
template <class F>
void parallel_for(int64_t begin, int64_t end, int64_t grain, const F& f) {
  const int64_t n = end - begin;
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int64_t threads = std::min<int64_t>(max_threads(), std::max<int64_t>(1, n / grain));
  if (threads <= 1) {
    f(begin, end);
    return;
  }
#ifdef _OPENMP
  const int64_t chunk = std::max(grain, (n + threads * 8 - 1) / (threads * 8));
  std::atomic<int64_t> next{begin};
#pragma omp parallel num_threads(static_cast<int>(threads))
  {
    for (int64_t lo = next.fetch_add(chunk); lo < end; lo = next.fetch_add(chunk))
      f(lo, std::min(end, lo + chunk));
  }
#endif
}

// Sum of f(i) over [0, n), in blocks of a fixed size added in order: the same bits on any
// number of threads. Within a block, runs of 256 values are summed in f's own type (vector
// lanes, `omp simd`) and the runs in double. Each thread works on its own copy of f: reached
// through the shared closure, f's pointers are reloaded every iteration and the vectorized loop
// turns into gathers, several times slower.
template <class F>
double deterministic_sum(int64_t n, const F& f) {
  using R = decltype(f(int64_t{0}));
  constexpr int64_t kBlock = 4096, kRun = 256;
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  std::vector<double> partial(static_cast<size_t>(blocks), 0.0);
  parallel_for(0, blocks, 2, [&](int64_t lo, int64_t hi) {
    const F g = f;
    for (int64_t b = lo; b < hi; ++b) {
      double s = 0.0;
      const int64_t end = std::min(n, (b + 1) * kBlock);
      for (int64_t r = b * kBlock; r < end; r += kRun) {
        const int64_t stop = std::min(end, r + kRun);
        R t = R(0);
#pragma omp simd reduction(+ : t)
        for (int64_t i = r; i < stop; ++i) t += g(i);
        s += static_cast<double>(t);
      }
      partial[static_cast<size_t>(b)] = s;
    }
  });
  double total = 0.0;
  for (double p : partial) total += p;
  return total;
}

}  // namespace sire::cpu
