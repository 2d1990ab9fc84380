// The contracts that let any strategy run on any space with any estimator.
#pragma once

#include <concepts>
#include <functional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "nas/core/evaluation.hpp"
#include "nas/core/rng.hpp"
#include "nas/core/space_size.hpp"

namespace nas {

namespace detail {
struct missing_arch {
  friend bool operator==(const missing_arch&, const missing_arch&) = default;
};
template <class S>
struct arch_of {
  using type = missing_arch;
};
template <class S>
  requires requires { typename S::Arch; }
struct arch_of<S> {
  using type = typename S::Arch;
};
}  // namespace detail

/// An architecture value: copyable, comparable and hashable (std::hash specialized).
template <class A>
concept ArchValue = std::regular<A> && requires(const A& a) {
  { std::hash<A>{}(a) } -> std::convertible_to<std::size_t>;
};

/// A search space (DESIGN.md): sample, mutate, neighbours, text encodings, exact size.
template <class S>
concept SearchSpace = requires { typename S::Arch; } && ArchValue<typename S::Arch> &&
    requires(const S& s, const typename S::Arch& a, Rng& rng, std::string_view text) {
      { s.sample(rng) } -> std::same_as<typename S::Arch>;
      { s.mutate(a, rng) } -> std::same_as<typename S::Arch>;
      { s.neighbors(a) } -> std::convertible_to<std::vector<typename S::Arch>>;
      { s.encode(a) } -> std::convertible_to<std::string>;
      { s.decode(text) } -> std::same_as<typename S::Arch>;
      { s.size() } -> std::convertible_to<SpaceSize>;
    };

/// Something that scores architectures of type Arch: `evaluate(arch, fidelity)`.
template <class E, class Arch>
concept Estimator = requires(E& e, const Arch& a, Fidelity f) {
  { e.evaluate(a, f) } -> std::convertible_to<Evaluation>;
};

/// Checks a space at the top of a strategy's entry point and says in words what is
/// missing, instead of a template backtrace. Returns true so it can sit in a static_assert.
template <class S>
consteval bool check_search_space() {
  using A = typename detail::arch_of<S>::type;
  static_assert(requires { typename S::Arch; },
                "nas: a search space needs a nested type `Arch` (the architecture value type).");
  static_assert(std::regular<A>, "nas: the space's Arch must be copyable, default-constructible and equality-comparable.");
  static_assert(requires(const A& a) { std::hash<A>{}(a); },
                "nas: the space's Arch must be hashable: specialize std::hash<Arch>.");
  static_assert(requires(const S& s, Rng& r) { { s.sample(r) } -> std::same_as<A>; },
                "nas: the search space needs `Arch sample(Rng&) const`.");
  static_assert(requires(const S& s, const A& a, Rng& r) { { s.mutate(a, r) } -> std::same_as<A>; },
                "nas: the search space needs `Arch mutate(const Arch&, Rng&) const`.");
  static_assert(requires(const S& s, const A& a) { { s.neighbors(a) } -> std::convertible_to<std::vector<A>>; },
                "nas: the search space needs `std::vector<Arch> neighbors(const Arch&) const`.");
  static_assert(requires(const S& s, const A& a) { { s.encode(a) } -> std::convertible_to<std::string>; },
                "nas: the search space needs `std::string encode(const Arch&) const`.");
  static_assert(requires(const S& s, std::string_view t) { { s.decode(t) } -> std::same_as<A>; },
                "nas: the search space needs `Arch decode(std::string_view) const` (throwing nas::ParseError).");
  static_assert(requires(const S& s) { { s.size() } -> std::convertible_to<SpaceSize>; },
                "nas: the search space needs `SpaceSize size() const` (the exact number of architectures).");
  return true;
}

/// As check_search_space, for an estimator of the space's architectures.
template <class E, class Arch>
consteval bool check_estimator() {
  static_assert(requires(E& e, const Arch& a, Fidelity f) { e.evaluate(a, f); },
                "nas: the estimator needs `Evaluation evaluate(const Arch&, nas::Fidelity)` for this space's Arch.");
  static_assert(Estimator<E, Arch>, "nas: the estimator's evaluate(arch, fidelity) must return nas::Evaluation.");
  return true;
}

/// Hash combining (boost-style) for Arch hash specializations.
inline constexpr std::size_t hash_combine(std::size_t seed, std::size_t v) noexcept {
  return seed ^ (v + 0x9e3779b97f4a7c15ULL + (seed << 6) + (seed >> 2));
}

}  // namespace nas
