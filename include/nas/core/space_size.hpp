// SpaceSize: an exact count of architectures, wider than 64 bits.
#pragma once

#include <string>

#include "nas/core/error.hpp"

namespace nas {

/// The number of architectures in a space. Cell spaces outgrow 64 bits quickly (the
/// DARTS space with normal and reduction cells has about 10^18 members; deeper cells
/// more), so the count is an unsigned 128-bit integer that refuses to overflow.
class SpaceSize {
 public:
  __extension__ typedef unsigned __int128 value_type;

  constexpr SpaceSize() = default;
  constexpr SpaceSize(unsigned long long v) : v_(v) {}  // NOLINT: implicit from counts is intended

  [[nodiscard]] constexpr value_type value() const noexcept { return v_; }
  [[nodiscard]] constexpr bool fits_u64() const noexcept { return (v_ >> 64) == 0; }
  [[nodiscard]] unsigned long long to_u64() const {
    if (!fits_u64()) throw ConfigError("SpaceSize::to_u64: " + to_string() + " exceeds 64 bits");
    return static_cast<unsigned long long>(v_);
  }
  [[nodiscard]] constexpr double to_double() const noexcept { return static_cast<double>(v_); }

  /// Checked multiplication: throws ConfigError rather than wrap around.
  friend SpaceSize operator*(SpaceSize a, SpaceSize b) {
    if (a.v_ != 0 && b.v_ > max_value() / a.v_) throw ConfigError("SpaceSize: count exceeds 2^128");
    return SpaceSize(a.v_ * b.v_, tag{});
  }
  SpaceSize& operator*=(SpaceSize b) { return *this = *this * b; }
  friend SpaceSize operator+(SpaceSize a, SpaceSize b) {
    if (b.v_ > max_value() - a.v_) throw ConfigError("SpaceSize: count exceeds 2^128");
    return SpaceSize(a.v_ + b.v_, tag{});
  }
  friend constexpr bool operator==(SpaceSize a, SpaceSize b) noexcept { return a.v_ == b.v_; }
  friend constexpr auto operator<=>(SpaceSize a, SpaceSize b) noexcept { return a.v_ <=> b.v_; }

  /// Decimal digits, optionally grouped by thousands ("5,625,000,000").
  [[nodiscard]] std::string to_string(bool grouped = false) const {
    if (v_ == 0) return "0";
    std::string digits;
    value_type x = v_;
    int n = 0;
    while (x != 0) {
      if (grouped && n > 0 && n % 3 == 0) digits.insert(digits.begin(), ',');
      digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(x % 10)));
      x /= 10;
      ++n;
    }
    return digits;
  }

 private:
  struct tag {};
  constexpr SpaceSize(value_type v, tag) : v_(v) {}
  static constexpr value_type max_value() noexcept { return ~value_type{0}; }
  value_type v_ = 0;
};

}  // namespace nas
