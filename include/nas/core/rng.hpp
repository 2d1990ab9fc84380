// Rng: a seeded, splittable random stream with portable (bit-identical) distributions.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <utility>
#include <vector>

#include "nas/core/error.hpp"

namespace nas {

namespace detail {
__extension__ typedef unsigned __int128 uint128_t;
}  // namespace detail

/// xoshiro256** (Blackman & Vigna 2018) seeded through splitmix64.
///
/// Every distribution is implemented here rather than taken from <random>, whose
/// algorithms differ between standard libraries: the same seed gives the same numbers
/// on every platform. `split()` derives an independent stream (for a run, a worker,
/// a repeat) without disturbing reproducibility of the parent's later draws more than
/// one step. Satisfies std::uniform_random_bit_generator.
class Rng {
 public:
  using result_type = std::uint64_t;

  explicit Rng(std::uint64_t seed = 0) noexcept { reseed(seed); }

  void reseed(std::uint64_t seed) noexcept {
    seed_ = seed;
    std::uint64_t x = seed;
    for (auto& s : s_) s = splitmix64(x);
  }

  /// The seed this stream was created with (print it in tests and logs).
  [[nodiscard]] std::uint64_t seed() const noexcept { return seed_; }

  static constexpr result_type min() noexcept { return 0; }
  static constexpr result_type max() noexcept { return std::numeric_limits<result_type>::max(); }

  result_type operator()() noexcept {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  /// A new, statistically independent stream derived from this one.
  [[nodiscard]] Rng split() noexcept { return Rng((*this)() ^ 0x9e3779b97f4a7c15ULL); }

  /// Uniform integer in [lo, hi] (both inclusive), unbiased (Lemire's method).
  std::int64_t uniform_int(std::int64_t lo, std::int64_t hi) {
    if (hi < lo) throw ConfigError("Rng::uniform_int: empty range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
    const auto range = static_cast<std::uint64_t>(hi - lo) + 1;  // 0 means the full 2^64
    if (range == 0) return static_cast<std::int64_t>((*this)());
    return lo + static_cast<std::int64_t>(below(range));
  }

  /// Uniform index in [0, n).
  std::size_t index(std::size_t n) {
    if (n == 0) throw ConfigError("Rng::index: cannot draw from an empty range (n = 0)");
    return static_cast<std::size_t>(below(n));
  }

  /// Uniform double in [0, 1) with 53 random bits.
  double uniform() noexcept { return static_cast<double>((*this)() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) noexcept { return lo + (hi - lo) * uniform(); }

  /// Standard normal by the polar Box-Muller method (the spare value is cached).
  double normal() noexcept {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    double u, v, s;
    do {
      u = 2.0 * uniform() - 1.0;
      v = 2.0 * uniform() - 1.0;
      s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    const double f = std::sqrt(-2.0 * std::log(s) / s);
    spare_ = v * f;
    has_spare_ = true;
    return u * f;
  }
  double normal(double mean, double stddev) noexcept { return mean + stddev * normal(); }

  bool bernoulli(double p) noexcept { return uniform() < p; }

  /// Index drawn with probability proportional to weights (non-negative, not all zero).
  std::size_t categorical(std::span<const double> weights) {
    double total = 0.0;
    for (double w : weights) {
      if (!(w >= 0.0) || !std::isfinite(w)) throw ConfigError("Rng::categorical: weights must be finite and >= 0");
      total += w;
    }
    if (!(total > 0.0)) throw ConfigError("Rng::categorical: weights sum to 0");
    double r = uniform() * total;
    for (std::size_t i = 0; i < weights.size(); ++i) {
      r -= weights[i];
      if (r < 0.0) return i;
    }
    for (std::size_t i = weights.size(); i-- > 0;)
      if (weights[i] > 0.0) return i;
    return weights.size() - 1;
  }

  /// Fisher-Yates shuffle.
  template <class T>
  void shuffle(std::span<T> items) noexcept {
    for (std::size_t i = items.size(); i > 1; --i) std::swap(items[i - 1], items[below(i)]);
  }
  template <class T>
  void shuffle(std::vector<T>& items) noexcept {
    shuffle(std::span<T>(items));
  }

  /// k distinct indices from [0, n), in random order.
  std::vector<std::size_t> sample_indices(std::size_t n, std::size_t k) {
    if (k > n)
      throw ConfigError("Rng::sample_indices: cannot draw " + std::to_string(k) + " distinct items from " + std::to_string(n));
    std::vector<std::size_t> idx(n);
    for (std::size_t i = 0; i < n; ++i) idx[i] = i;
    for (std::size_t i = 0; i < k; ++i) std::swap(idx[i], idx[i + below(n - i)]);
    idx.resize(k);
    return idx;
  }

 private:
  static constexpr std::uint64_t rotl(std::uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }
  static constexpr std::uint64_t splitmix64(std::uint64_t& x) noexcept {
    std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Unbiased integer in [0, n), n > 0 (Lemire 2019, "Fast random integer generation in an interval").
  std::uint64_t below(std::uint64_t n) noexcept {
    detail::uint128_t m = static_cast<detail::uint128_t>((*this)()) * n;
    auto low = static_cast<std::uint64_t>(m);
    if (low < n) {
      const std::uint64_t threshold = (0 - n) % n;
      while (low < threshold) {
        m = static_cast<detail::uint128_t>((*this)()) * n;
        low = static_cast<std::uint64_t>(m);
      }
    }
    return static_cast<std::uint64_t>(m >> 64);
  }

  std::array<std::uint64_t, 4> s_{};
  std::uint64_t seed_ = 0;
  double spare_ = 0.0;
  bool has_spare_ = false;
};

/// A seed derived from `seed` and a stream number `stream` (an architecture's hash, a
/// worker's index, a purpose tag) by splitmix64's finalizer (Steele et al. 2014): nearby
/// inputs give unrelated seeds, and the result depends on nothing else. Every place that
/// derives one seed from another uses this.
[[nodiscard]] constexpr std::uint64_t mix_seed(std::uint64_t seed, std::uint64_t stream) noexcept {
  std::uint64_t x = seed ^ (stream + 0x9e3779b97f4a7c15ULL);
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

/// The seed of run `run` of a series of independent runs started from `seed` (as
/// benchmark protocols repeat a search): the first draw of an Rng seeded with
/// seed * golden + run. Depends only on (seed, run), so runs split over threads give the
/// same results in any order.
[[nodiscard]] inline std::uint64_t run_seed(std::uint64_t seed, std::uint64_t run) noexcept {
  return Rng(seed * 0x9e3779b97f4a7c15ULL + run)();
}

}  // namespace nas
