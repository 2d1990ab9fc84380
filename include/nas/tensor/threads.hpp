// One knob for every thread pool nas uses: OpenMP, Eigen's GEMM and nas's own loops.
#pragma once

#include <Eigen/Core>
#include <cstddef>
#include <cstdlib>
#include <string>

#include "nas/core/error.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace nas {

namespace detail {
inline int& thread_count_storage() {
  static int n = [] {
    if (const char* env = std::getenv("NAS_NUM_THREADS")) {
      char* end = nullptr;
      const long v = std::strtol(env, &end, 10);
      if (end == env || *end != '\0' || v < 1 || v > 4096)
        throw ConfigError(std::string("NAS_NUM_THREADS: '") + env + "' is not a thread count (expected an integer >= 1)");
      return static_cast<int>(v);
    }
    return 1;
  }();
  return n;
}
}  // namespace detail

/// Sets the number of threads for OpenMP regions and Eigen's products. Results are
/// bit-identical for a given seed and thread count. The default is 1, or the value of
/// the environment variable NAS_NUM_THREADS.
inline void set_num_threads(int n) {
  if (n < 1) throw ConfigError("nas::set_num_threads: " + std::to_string(n) + " threads (expected >= 1)");
  detail::thread_count_storage() = n;
#if defined(_OPENMP)
  omp_set_num_threads(n);
#endif
  Eigen::setNbThreads(n);
}

/// The current thread count (applies NAS_NUM_THREADS on first use).
inline int num_threads() {
  static const bool applied = [] {
    set_num_threads(detail::thread_count_storage());
    return true;
  }();
  (void)applied;
  return detail::thread_count_storage();
}

namespace detail {
/// Below this many elements of work, loops stay on the calling thread.
inline constexpr std::size_t parallel_grain = std::size_t{1} << 15;

/// Calls f(i) for i in [0, count): on the calling thread when one thread is configured or
/// `work` (elements touched) is small, otherwise split statically over num_threads().
/// Iterations must write disjoint data; the results then do not depend on the thread
/// count. Keeping the serial path free of OpenMP lets the compiler vectorise f's loops.
template <class F>
void parallel_for(int count, std::size_t work, F&& f) {
  const int threads = num_threads();
  if (threads <= 1 || count <= 1 || work <= parallel_grain) {
    for (int i = 0; i < count; ++i) f(i);
    return;
  }
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int i = 0; i < count; ++i) f(i);
}

/// Calls f(begin, end) over [0, n) in num_threads() contiguous chunks (one chunk when
/// serial), for element-wise loops.
template <class F>
void parallel_chunks(std::size_t n, F&& f) {
  const int threads = num_threads();
  if (threads <= 1 || n <= parallel_grain) {
    f(std::size_t{0}, n);
    return;
  }
#pragma omp parallel for num_threads(threads) schedule(static, 1)
  for (int t = 0; t < threads; ++t)
    f(n * static_cast<std::size_t>(t) / static_cast<std::size_t>(threads),
      n * static_cast<std::size_t>(t + 1) / static_cast<std::size_t>(threads));
}
}  // namespace detail

}  // namespace nas
