// Programs: option checks that name the option, the value and what is allowed, an output directory checked before any work, and a main that never ends in an uncaught exception.
#pragma once

#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <new>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>

#include "nas/core/error.hpp"

namespace nas {

namespace detail {
template <class T>
std::string option_value_str(const T& v) {
  if constexpr (std::is_floating_point_v<T>)
    return num_str(static_cast<double>(v));
  else if constexpr (std::is_arithmetic_v<T>)
    return std::to_string(v);
  else
    return "'" + std::string(v) + "'";
}
}  // namespace detail

/// Throws ConfigError "--population 0 must be >= 2" unless value >= min (NaN fails).
template <class T>
void require_at_least(std::string_view option, T value, T min) {
  if (!(value >= min))
    throw ConfigError(std::string(option) + " " + detail::option_value_str(value) + " must be >= " +
                      detail::option_value_str(min));
}

/// Throws ConfigError "--runs 0 must be in [1, 10000]" unless lo <= value <= hi (NaN fails).
template <class T>
void require_in_range(std::string_view option, T value, T lo, T hi) {
  if (!(value >= lo && value <= hi))
    throw ConfigError(std::string(option) + " " + detail::option_value_str(value) + " must be in [" +
                      detail::option_value_str(lo) + ", " + detail::option_value_str(hi) + "]");
}

/// Throws ConfigError "--strategy 'foo' must be one of: rea, sh" unless value is one of `allowed`.
inline void require_one_of(std::string_view option, std::string_view value, std::initializer_list<std::string_view> allowed) {
  std::string list;
  for (std::string_view a : allowed) {
    if (a == value) return;
    list += (list.empty() ? "" : ", ") + std::string(a);
  }
  throw ConfigError(std::string(option) + " '" + std::string(value) + "' must be one of: " + list);
}

/// Creates `dir` (with its parents) and writes and removes a probe file in it, so that a
/// report or journal path that cannot be written is found before the work starts, not
/// after it. Throws ConfigError naming the option, the path and the system's reason.
inline void require_writable_directory(std::string_view option, const std::filesystem::path& dir) {
  const auto fail = [&](const std::string& why) {
    throw ConfigError(std::string(option) + " '" + dir.string() + "': " + why);
  };
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) fail("cannot create the directory (" + ec.message() + ")");
  if (!std::filesystem::is_directory(dir, ec)) fail("is not a directory");
  const std::filesystem::path probe = dir / ".nas_write_probe";
  {
    std::ofstream out(probe, std::ios::binary | std::ios::trunc);
    out << "probe\n";
    out.flush();
    if (!out) fail("cannot write files there");
  }
  std::filesystem::remove(probe, ec);
}

/// Runs a program's work and turns every exception into a message and an exit status:
/// ConfigError (an option found invalid at run time) prints "<program>: <message>" and
/// gives 2, as an invalid option does; any other nas::Error gives 1, and so does anything
/// unexpected (std::bad_alloc, a std::exception, an unknown exception), each named as
/// such. `work` returns the program's exit status.
template <class F>
int run_program(std::string_view program, F&& work) noexcept {
  const std::string name(program);
  try {
    return work();
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "%s: %s\n", name.c_str(), e.what());
    return 2;
  } catch (const Error& e) {
    std::fprintf(stderr, "%s: error: %s\n", name.c_str(), e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "%s: error: out of memory\n", name.c_str());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: internal error: %s\n", name.c_str(), e.what());
    return 1;
  } catch (...) {
    std::fprintf(stderr, "%s: internal error: an unknown exception\n", name.c_str());
    return 1;
  }
}

}  // namespace nas
