// Thread counts belong to the calling thread: concurrent workers set their own without changing anyone else's.
#include <catch2/catch.hpp>

#include <nas/tensor/threads.hpp>

#include <thread>

TEST_CASE("each thread has its own thread count, starting from the default", "[tensor][threads]") {
  nas::set_num_threads(3);
  int seen_at_start = 0, seen_after = 0, other_start = 0, other_after = 0;
  std::thread a([&] {
    seen_at_start = nas::num_threads();  // a new thread starts from the default, not the caller's 3
    nas::set_num_threads(2);
    seen_after = nas::num_threads();
  });
  std::thread b([&] {
    other_start = nas::num_threads();
    nas::set_num_threads(4);
    other_after = nas::num_threads();
  });
  a.join();
  b.join();
  CHECK(seen_at_start == nas::detail::default_thread_count());
  CHECK(other_start == nas::detail::default_thread_count());
  CHECK(seen_after == 2);
  CHECK(other_after == 4);
  CHECK(nas::num_threads() == 3);  // the workers' settings did not reach this thread
#if defined(_OPENMP)
  CHECK(omp_get_max_threads() == 3);
#endif
  nas::set_num_threads(1);
  CHECK_THROWS_WITH(nas::set_num_threads(0), Catch::Contains("0 threads"));
}
