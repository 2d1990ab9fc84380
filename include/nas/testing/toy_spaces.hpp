// Toy search spaces whose optimum and optimal score are known (OneMax, deceptive Trap).
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string>

#include "nas/core/concepts.hpp"
#include "nas/core/error.hpp"
#include "nas/core/rng.hpp"
#include "nas/testing/choice_space.hpp"

namespace nas::testing {

/// A toy problem: a search space that also knows the true score of each architecture,
/// its best architecture and the best score (so tests can check a strategy found it).
template <class P>
concept ToyProblem = SearchSpace<P> && requires(const P& p, const typename P::Arch& a) {
  { p.score(a) } -> std::convertible_to<double>;
  { p.optimum() } -> std::same_as<typename P::Arch>;
  { p.optimal_score() } -> std::convertible_to<double>;
};

namespace detail {
inline ChoiceArch hidden_target(std::size_t n, std::size_t k, std::uint64_t seed) {
  Rng rng(seed);
  ChoiceArch t;
  t.choices.resize(n);
  for (auto& c : t.choices) c = static_cast<int>(rng.index(k));
  return t;
}
}  // namespace detail

/// OneMax over n decisions of k choices: the score is the fraction of decisions equal
/// to a hidden target drawn from `seed`. Separable and unimodal: every decision can be
/// fixed independently, and the optimum (the target, score 1.0) is unique.
class OneMaxSpace : public ChoiceSpace {
 public:
  OneMaxSpace(std::size_t n, std::size_t k, std::uint64_t seed = 0)
      : ChoiceSpace(n, k), target_(detail::hidden_target(n, k, seed)) {}

  [[nodiscard]] double score(const Arch& a) const noexcept {
    std::size_t hits = 0;
    for (std::size_t i = 0; i < a.choices.size() && i < target_.choices.size(); ++i) hits += a.choices[i] == target_.choices[i];
    return static_cast<double>(hits) / static_cast<double>(target_.choices.size());
  }
  [[nodiscard]] Arch optimum() const { return target_; }
  [[nodiscard]] static constexpr double optimal_score() noexcept { return 1.0; }

 private:
  ChoiceArch target_;
};

/// A deceptive trap (Deb & Goldberg 1993): the decisions form blocks of size b; a block
/// scores 1 when all of its decisions equal the hidden target, and otherwise
/// (b - 1 - m) / b where m of them do. Within a block every step towards the target
/// lowers the score until the last one, so hill climbers are led away from the
/// optimum (the target, score 1.0) towards local optima scoring (b - 1) / b.
class TrapSpace : public ChoiceSpace {
 public:
  TrapSpace(std::size_t n, std::size_t k, std::size_t block, std::uint64_t seed = 0)
      : ChoiceSpace(n, k), block_(block), target_(detail::hidden_target(n, k, seed)) {
    if (block < 2 || n % block != 0)
      throw ConfigError("TrapSpace: block size (" + std::to_string(block) + ") must be >= 2 and divide the " +
                        std::to_string(n) + " decisions");
  }

  [[nodiscard]] double score(const Arch& a) const noexcept {
    const std::size_t n = target_.choices.size();
    double total = 0.0;
    for (std::size_t start = 0; start < n; start += block_) {
      std::size_t m = 0;
      for (std::size_t i = start; i < start + block_ && i < a.choices.size(); ++i) m += a.choices[i] == target_.choices[i];
      total += m == block_ ? 1.0 : static_cast<double>(block_ - 1 - m) / static_cast<double>(block_);
    }
    return total / static_cast<double>(n / block_);
  }
  [[nodiscard]] Arch optimum() const { return target_; }
  [[nodiscard]] static constexpr double optimal_score() noexcept { return 1.0; }
  [[nodiscard]] std::size_t block() const noexcept { return block_; }

 private:
  std::size_t block_;
  ChoiceArch target_;
};

}  // namespace nas::testing
