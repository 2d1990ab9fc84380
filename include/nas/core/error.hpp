// Errors: one nas::Error root with the kinds users catch, and NAS_ASSERT for bugs.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace nas {

/// Root of every exception the library throws on purpose.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A text encoding (architecture string, CLI value, JSON field) that does not parse.
/// The message names the offending token and its position.
class ParseError : public Error {
 public:
  using Error::Error;
};

/// A file or data set that is missing, truncated or malformed; the message names the file.
class DataError : public Error {
 public:
  using Error::Error;
};

/// Options or arguments that are out of range or inconsistent; the message names the
/// place, the value and the limit.
class ConfigError : public Error {
 public:
  using Error::Error;
};

namespace detail {
/// A number as error messages show it: "%g", as `std::ostream << v` prints it (0.01, 1e-08).
[[nodiscard]] inline std::string num_str(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

[[noreturn]] inline void assert_fail(const char* expr, const char* file, int line, const char* msg) {
  std::fprintf(stderr, "nas: assertion `%s` failed at %s:%d: %s\n", expr, file, line, msg);
  std::abort();
}
}  // namespace detail

}  // namespace nas

/// Checks internal preconditions (shapes, indices) in hot code. Compiled out with NDEBUG
/// unless NAS_ENABLE_ASSERTS is defined; define NAS_ASSERT yourself to override it.
#ifndef NAS_ASSERT
#if defined(NDEBUG) && !defined(NAS_ENABLE_ASSERTS)
#define NAS_ASSERT(cond, msg) ((void)0)
#else
#define NAS_ASSERT(cond, msg) \
  ((cond) ? (void)0 : ::nas::detail::assert_fail(#cond, __FILE__, __LINE__, (msg)))
#endif
#endif
