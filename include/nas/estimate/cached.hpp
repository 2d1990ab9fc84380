// Cached<Est>: memoizes an estimator's evaluations by (architecture, fidelity).
#pragma once

#include <cstddef>
#include <functional>
#include <type_traits>
#include <unordered_map>
#include <utility>

#include "nas/core/callbacks.hpp"
#include "nas/core/concepts.hpp"
#include "nas/core/evaluation.hpp"

namespace nas {

namespace detail {
template <class E>
struct estimator_arch {};
template <class E>
  requires requires { typename E::Arch; }
struct estimator_arch<E> {
  using type = typename E::Arch;
};
}  // namespace detail

/// Wraps an estimator and remembers every evaluation by (architecture, requested
/// fidelity), so that strategies revisiting a cell (evolution re-creates old cells often
/// in small spaces) do not pay for it twice.
///
/// A cached answer costs nothing: `cost_seconds` is 0 on a hit (the search did not train
/// again), while `epochs`, score, metrics and status are those of the first evaluation.
/// Set `charge_hits` to charge the original cost again instead, e.g. to mimic a protocol
/// that counts every query. Caching a noisy estimator freezes its noise per key.
///
/// `Est` must satisfy Estimator<Est, Arch>; `Arch` defaults to `Est::Arch` and must be
/// hashable. Not thread-safe.
template <class Est, class ArchT = typename detail::estimator_arch<Est>::type>
class Cached {
 public:
  using Arch = ArchT;
  static_assert(Estimator<Est, Arch>, "nas::Cached: Est must provide Evaluation evaluate(const Arch&, nas::Fidelity).");

  explicit Cached(Est inner, bool charge_hits = false) : inner_(std::move(inner)), charge_hits_(charge_hits) {}

  [[nodiscard]] Evaluation evaluate(const Arch& a, Fidelity f = {}) { return evaluate(a, f, EpochSink{}); }

  /// As evaluate(a, f); a miss hands `on_epoch` to the inner estimator when it takes one
  /// (a hit trains nothing, so reports no epoch).
  [[nodiscard]] Evaluation evaluate(const Arch& a, Fidelity f, const EpochSink& on_epoch) {
    Key key{a, f.epochs};
    if (auto it = cache_.find(key); it != cache_.end()) {
      ++hits_;
      Evaluation e = it->second;
      if (!charge_hits_) e.cost_seconds = 0.0;
      return e;
    }
    ++misses_;
    Evaluation e;
    if constexpr (requires { inner_.evaluate(a, f, on_epoch); })
      e = on_epoch ? inner_.evaluate(a, f, on_epoch) : inner_.evaluate(a, f);
    else
      e = inner_.evaluate(a, f);
    cache_.emplace(std::move(key), e);
    return e;
  }

  [[nodiscard]] std::size_t hits() const noexcept { return hits_; }
  [[nodiscard]] std::size_t misses() const noexcept { return misses_; }
  /// Distinct (architecture, fidelity) pairs stored.
  [[nodiscard]] std::size_t size() const noexcept { return cache_.size(); }
  [[nodiscard]] bool contains(const Arch& a, Fidelity f = {}) const { return cache_.count(Key{a, f.epochs}) != 0; }
  void clear() {
    cache_.clear();
    hits_ = misses_ = 0;
  }

  [[nodiscard]] Est& inner() noexcept { return inner_; }
  [[nodiscard]] const Est& inner() const noexcept { return inner_; }

 private:
  struct Key {
    Arch arch;
    double epochs;
    friend bool operator==(const Key&, const Key&) = default;
  };
  struct KeyHash {
    std::size_t operator()(const Key& k) const noexcept {
      return hash_combine(std::hash<Arch>{}(k.arch), std::hash<double>{}(k.epochs));
    }
  };

  Est inner_;
  bool charge_hits_ = false;
  std::unordered_map<Key, Evaluation, KeyHash> cache_;
  std::size_t hits_ = 0;
  std::size_t misses_ = 0;
};

}  // namespace nas
