// One knob for every thread pool nas uses: OpenMP, Eigen's GEMM and nas's own loops.
#pragma once

#include <Eigen/Core>
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

}  // namespace nas
