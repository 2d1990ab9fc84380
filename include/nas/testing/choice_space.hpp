// ChoiceArch and ChoiceSpace: n decisions of k choices each, the base of the toy spaces.
#pragma once

#include <algorithm>
#include <cstddef>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "nas/core/concepts.hpp"
#include "nas/core/error.hpp"
#include "nas/core/rng.hpp"
#include "nas/core/space_size.hpp"

namespace nas::testing {

/// An architecture that is nothing but one choice index per decision.
struct ChoiceArch {
  std::vector<int> choices;
  friend bool operator==(const ChoiceArch&, const ChoiceArch&) = default;
};

/// The space of all vectors of `n` decisions with `k` choices each (k^n members).
///
/// It satisfies nas::SearchSpace and nas::CategoricalSpace. `mutate` changes one
/// decision to a different choice; `neighbors` lists the n*(k-1) architectures one
/// mutation away. Encoding: the choices joined by '-' ("0-3-1").
class ChoiceSpace {
 public:
  using Arch = ChoiceArch;

  ChoiceSpace(std::size_t n, std::size_t k) : n_(n), k_(k) {
    if (n == 0) throw ConfigError("ChoiceSpace: number of decisions (0) must be >= 1");
    if (k < 2) throw ConfigError("ChoiceSpace: number of choices (" + std::to_string(k) + ") must be >= 2");
  }

  [[nodiscard]] std::size_t num_decisions() const noexcept { return n_; }
  [[nodiscard]] std::size_t num_choices(std::size_t /*decision*/) const noexcept { return k_; }

  [[nodiscard]] Arch from_choices(std::span<const int> c) const {
    if (c.size() != n_)
      throw ConfigError("ChoiceSpace::from_choices: " + std::to_string(c.size()) + " choices given, the space has " +
                        std::to_string(n_) + " decisions");
    for (std::size_t i = 0; i < c.size(); ++i)
      if (c[i] < 0 || static_cast<std::size_t>(c[i]) >= k_)
        throw ConfigError("ChoiceSpace::from_choices: choice " + std::to_string(c[i]) + " of decision " + std::to_string(i) +
                          " is outside [0, " + std::to_string(k_) + ")");
    return Arch{std::vector<int>(c.begin(), c.end())};
  }
  [[nodiscard]] std::vector<int> to_choices(const Arch& a) const { return a.choices; }

  [[nodiscard]] Arch sample(Rng& rng) const {
    Arch a;
    a.choices.resize(n_);
    for (auto& c : a.choices) c = static_cast<int>(rng.index(k_));
    return a;
  }

  [[nodiscard]] Arch mutate(const Arch& a, Rng& rng) const {
    Arch child = a;
    const std::size_t i = rng.index(n_);
    // A different choice, uniformly among the k-1 others.
    const auto shift = 1 + static_cast<int>(rng.index(k_ - 1));
    child.choices[i] = (child.choices[i] + shift) % static_cast<int>(k_);
    return child;
  }

  [[nodiscard]] std::vector<Arch> neighbors(const Arch& a) const {
    std::vector<Arch> out;
    out.reserve(n_ * (k_ - 1));
    for (std::size_t i = 0; i < n_; ++i)
      for (std::size_t c = 0; c < k_; ++c)
        if (static_cast<int>(c) != a.choices[i]) {
          Arch b = a;
          b.choices[i] = static_cast<int>(c);
          out.push_back(std::move(b));
        }
    return out;
  }

  [[nodiscard]] std::string encode(const Arch& a) const {
    std::string s;
    for (std::size_t i = 0; i < a.choices.size(); ++i) {
      if (i) s += '-';
      s += std::to_string(a.choices[i]);
    }
    return s;
  }

  [[nodiscard]] Arch decode(std::string_view text) const {
    Arch a;
    std::size_t pos = 0;
    while (pos <= text.size()) {
      const std::size_t end = std::min(text.find('-', pos), text.size());
      const std::string_view tok = text.substr(pos, end - pos);
      int v = 0;
      bool good = !tok.empty() && tok.size() <= 9;
      for (char ch : tok) {
        if (ch < '0' || ch > '9') good = false;
        else v = v * 10 + (ch - '0');
      }
      if (!good || static_cast<std::size_t>(v) >= k_)
        throw ParseError("ChoiceSpace::decode: bad token '" + std::string(tok) + "' at position " + std::to_string(pos) +
                         " (expected a choice in [0, " + std::to_string(k_) + "))");
      a.choices.push_back(v);
      pos = end + 1;
    }
    if (a.choices.size() != n_)
      throw ParseError("ChoiceSpace::decode: " + std::to_string(a.choices.size()) + " tokens in '" + std::string(text) +
                       "', expected " + std::to_string(n_));
    return a;
  }

  [[nodiscard]] SpaceSize size() const {
    SpaceSize s(1);
    for (std::size_t i = 0; i < n_; ++i) s *= SpaceSize(k_);
    return s;
  }

 private:
  std::size_t n_;
  std::size_t k_;
};

}  // namespace nas::testing

template <>
struct std::hash<nas::testing::ChoiceArch> {
  std::size_t operator()(const nas::testing::ChoiceArch& a) const noexcept {
    std::size_t h = a.choices.size();
    for (int c : a.choices) h = nas::hash_combine(h, static_cast<std::size_t>(c));
    return h;
  }
};
