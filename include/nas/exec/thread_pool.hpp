// ThreadPool: an executor running k evaluations at once on k threads of this process.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "nas/core/error.hpp"

namespace nas {

/// k worker threads taking tasks in the order they were posted (see Serial for the
/// executor contract). The driver gives each evaluation its share of the cores
/// (EvalContext::threads); the pool itself only runs tasks. Joins its threads when
/// destroyed, after the tasks already posted have run.
class ThreadPool {
 public:
  explicit ThreadPool(std::size_t workers) {
    if (workers == 0) throw ConfigError("ThreadPool: workers (0) must be >= 1");
    threads_.reserve(workers);
    for (std::size_t w = 0; w < workers; ++w) threads_.emplace_back([this, w] { work(w); });
  }
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;
  ~ThreadPool() {
    {
      std::lock_guard lock(mutex_);
      closing_ = true;
    }
    ready_.notify_all();
    for (auto& t : threads_) t.join();
  }

  [[nodiscard]] std::size_t workers() const noexcept { return threads_.size(); }

  void post(std::function<void(std::size_t)> task) {
    {
      std::lock_guard lock(mutex_);
      tasks_.push_back(std::move(task));
    }
    ready_.notify_one();
  }

 private:
  void work(std::size_t worker) {
    for (;;) {
      std::function<void(std::size_t)> task;
      {
        std::unique_lock lock(mutex_);
        ready_.wait(lock, [&] { return closing_ || !tasks_.empty(); });
        if (tasks_.empty()) return;  // closing and nothing left
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task(worker);
    }
  }

  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::function<void(std::size_t)>> tasks_;
  std::vector<std::thread> threads_;
  bool closing_ = false;
};

}  // namespace nas
