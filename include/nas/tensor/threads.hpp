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
inline int default_thread_count() {
  if (const char* env = std::getenv("NAS_NUM_THREADS")) {
    char* end = nullptr;
    const long v = std::strtol(env, &end, 10);
    if (end == env || *end != '\0' || v < 1 || v > 4096)
      throw ConfigError(std::string("NAS_NUM_THREADS: '") + env + "' is not a thread count (expected an integer >= 1)");
    return static_cast<int>(v);
  }
  return 1;
}
// Each thread has its own count, so that concurrent evaluations on an executor's
// workers set their share without changing each other's (or the caller's).
inline int& thread_count_storage() {
  thread_local int n = default_thread_count();
  return n;
}
}  // namespace detail

/// Sets the number of threads the calling thread's parallel work uses: nas's own loops,
/// the OpenMP regions it starts, and Eigen's products (which follow OpenMP's setting of
/// the calling thread). Results are bit-identical for a given seed and thread count. The
/// setting belongs to the calling thread: a thread starts with the default, 1 or the
/// value of the environment variable NAS_NUM_THREADS, and an executor's worker sets its
/// own share (EvalContext::threads) without touching anyone else's.
inline void set_num_threads(int n) {
  if (n < 1) throw ConfigError("nas::set_num_threads: " + std::to_string(n) + " threads (expected >= 1)");
  detail::thread_count_storage() = n;
#if defined(_OPENMP)
  omp_set_num_threads(n);  // this thread's ICV; Eigen reads omp_get_max_threads() when not told otherwise
#endif
}

/// The calling thread's thread count (applies NAS_NUM_THREADS on first use).
inline int num_threads() {
  thread_local const bool applied = [] {
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
