// Serial: the executor that runs each evaluation at once on the calling thread.
#pragma once

#include <cstddef>
#include <functional>

namespace nas {

/// The one-worker executor: `post` runs the task before it returns. With it, the
/// parallel driver (nas/exec/driver.hpp) makes exactly the run a strategy's `run()` makes.
///
/// An executor is any type with `std::size_t workers() const` (how many evaluations it
/// runs at once) and `void post(std::function<void(std::size_t worker)>)` (runs the task
/// on worker 0..workers()-1, now or later, on whatever thread it likes; tasks do not throw).
class Serial {
 public:
  [[nodiscard]] static constexpr std::size_t workers() noexcept { return 1; }
  void post(const std::function<void(std::size_t)>& task) { task(0); }
};

}  // namespace nas
