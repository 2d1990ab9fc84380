// CategoricalSpace: a space whose architectures are one categorical choice per decision.
#pragma once

#include <concepts>
#include <cstddef>
#include <span>
#include <vector>

#include "nas/core/concepts.hpp"

namespace nas {

/// A search space described as `num_decisions()` independent categorical decisions,
/// decision i having `num_choices(i)` options, with a two-way mapping between an
/// architecture and its choice indices. Policy-gradient and distribution-based
/// strategies (Reinforce) learn one categorical distribution per decision.
///
///     std::size_t num_decisions() const;
///     std::size_t num_choices(std::size_t decision) const;      // >= 1
///     Arch from_choices(std::span<const int> choices) const;    // one index per decision
///     std::vector<int> to_choices(const Arch&) const;
template <class S>
concept CategoricalSpace = SearchSpace<S> &&
    requires(const S& s, std::size_t i, std::span<const int> c, const typename S::Arch& a) {
      { s.num_decisions() } -> std::convertible_to<std::size_t>;
      { s.num_choices(i) } -> std::convertible_to<std::size_t>;
      { s.from_choices(c) } -> std::same_as<typename S::Arch>;
      { s.to_choices(a) } -> std::convertible_to<std::vector<int>>;
    };

/// As check_search_space: says in words what a space lacks to be categorical.
template <class S>
consteval bool check_categorical_space() {
  using A = typename detail::arch_of<S>::type;
  static_assert(requires(const S& s) { { s.num_decisions() } -> std::convertible_to<std::size_t>; },
                "nas: a categorical space needs `std::size_t num_decisions() const`.");
  static_assert(requires(const S& s, std::size_t i) { { s.num_choices(i) } -> std::convertible_to<std::size_t>; },
                "nas: a categorical space needs `std::size_t num_choices(std::size_t decision) const`.");
  static_assert(requires(const S& s, std::span<const int> c) { { s.from_choices(c) } -> std::same_as<A>; },
                "nas: a categorical space needs `Arch from_choices(std::span<const int>) const`.");
  static_assert(requires(const S& s, const A& a) { { s.to_choices(a) } -> std::convertible_to<std::vector<int>>; },
                "nas: a categorical space needs `std::vector<int> to_choices(const Arch&) const`.");
  return true;
}

}  // namespace nas
