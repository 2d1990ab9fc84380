// Number formatting for tables, logs and progress lines (fixed digits, mean ± std, SI, durations).
#pragma once

#include <cmath>
#include <cstdio>
#include <string>

namespace nas {

/// `v` with `digits` decimals ("93.12"); "n/a" for NaN, "inf"/"-inf" for infinities.
[[nodiscard]] inline std::string fmt(double v, int digits = 2) {
  if (std::isnan(v)) return "n/a";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits < 0 ? 0 : digits, v);
  std::string s = buf;
  if (s.find_first_not_of("-0.") == std::string::npos && s[0] == '-') s.erase(0, 1);  // no "-0.00"
  return s;
}

/// "mean ± std" with the same number of decimals for both.
[[nodiscard]] inline std::string fmt_pm(double mean, double stddev, int digits = 2) {
  return fmt(mean, digits) + " \u00b1 " + fmt(stddev, digits);
}

/// A count with thousands separators ("1,234,567").
[[nodiscard]] inline std::string fmt_count(long long n) {
  std::string digits = std::to_string(n < 0 ? -n : n), out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

/// A magnitude with an SI suffix and three significant digits ("1.23M", "456k", "0.5").
[[nodiscard]] inline std::string fmt_si(double v) {
  if (!std::isfinite(v)) return fmt(v);
  static constexpr const char* suffix[] = {"", "k", "M", "G", "T", "P"};
  int k = 0;
  double a = std::abs(v);
  while (a >= 999.5 && k < 5) a /= 1000.0, ++k;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g%s", v < 0 ? -a : a, suffix[k]);
  return buf;
}

/// A duration for humans: "850 ms", "12.3 s", "4m 05s", "2h 07m".
[[nodiscard]] inline std::string fmt_duration(double seconds) {
  if (!std::isfinite(seconds)) return "?";
  if (seconds < 0) seconds = 0;
  char buf[48];
  if (seconds < 1.0)
    std::snprintf(buf, sizeof buf, "%.0f ms", seconds * 1000.0);
  else if (seconds < 60.0)
    std::snprintf(buf, sizeof buf, "%.1f s", seconds);
  else if (seconds < 3600.0) {
    const long s = std::lround(seconds);
    std::snprintf(buf, sizeof buf, "%ldm %02lds", s / 60, s % 60);
  } else {
    const long m = std::lround(seconds / 60.0);
    std::snprintf(buf, sizeof buf, "%ldh %02ldm", m / 60, m % 60);
  }
  return buf;
}

}  // namespace nas
