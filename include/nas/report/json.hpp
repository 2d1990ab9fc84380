// Minimal JSON writer: escaped strings, round-trip numbers (NaN/inf as null), nested builder.
#pragma once

#include <charconv>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "nas/core/error.hpp"

namespace nas {

/// Appends `s` to `out` as a JSON string literal (quotes included). Escapes the quote,
/// the backslash and every control character below 0x20; other bytes (UTF-8) pass through.
inline void append_json_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (ch) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 0xf];
        } else {
          out += ch;
        }
    }
  }
  out += '"';
}

/// `s` as a JSON string literal.
[[nodiscard]] inline std::string json_string(std::string_view s) {
  std::string out;
  append_json_string(out, s);
  return out;
}

/// A number in the shortest form that reads back to the same double; NaN and
/// infinities (which JSON cannot express) become `null`.
[[nodiscard]] inline std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, static_cast<std::size_t>(r.ptr - buf));
}

/// Builds one JSON document in a string, checking nesting as it goes:
///
///     nas::JsonWriter j;
///     j.begin_object().field("trial", 3).field("score", 0.91);
///     j.key("metrics").begin_object().field("params", 1.2e6).end_object();
///     j.end_object();
///     j.str();  // {"trial":3,"score":0.91,"metrics":{"params":1200000}}
///
/// Misuse (a value without a key inside an object, unbalanced ends) throws ConfigError.
class JsonWriter {
 public:
  JsonWriter& begin_object() {
    before_value();
    out_ += '{';
    stack_.push_back({true, 0});
    return *this;
  }
  JsonWriter& end_object() {
    if (stack_.empty() || !stack_.back().object || key_pending_)
      throw ConfigError("JsonWriter::end_object: no open object to close");
    stack_.pop_back();
    out_ += '}';
    return *this;
  }
  JsonWriter& begin_array() {
    before_value();
    out_ += '[';
    stack_.push_back({false, 0});
    return *this;
  }
  JsonWriter& end_array() {
    if (stack_.empty() || stack_.back().object) throw ConfigError("JsonWriter::end_array: no open array to close");
    stack_.pop_back();
    out_ += ']';
    return *this;
  }
  JsonWriter& key(std::string_view k) {
    if (stack_.empty() || !stack_.back().object || key_pending_)
      throw ConfigError("JsonWriter::key: key \"" + std::string(k) + "\" outside an object or after another key");
    if (stack_.back().count++ > 0) out_ += ',';
    append_json_string(out_, k);
    out_ += ':';
    key_pending_ = true;
    return *this;
  }

  JsonWriter& value(std::string_view s) {
    before_value();
    append_json_string(out_, s);
    return *this;
  }
  JsonWriter& value(const char* s) { return value(std::string_view(s)); }
  JsonWriter& value(const std::string& s) { return value(std::string_view(s)); }
  JsonWriter& value(bool b) {
    before_value();
    out_ += b ? "true" : "false";
    return *this;
  }
  template <class T>
    requires(std::integral<T> && !std::same_as<T, bool>)
  JsonWriter& value(T v) {
    before_value();
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    out_.append(buf, static_cast<std::size_t>(r.ptr - buf));
    return *this;
  }
  template <std::floating_point T>
  JsonWriter& value(T v) {
    before_value();
    out_ += json_number(static_cast<double>(v));
    return *this;
  }
  JsonWriter& null() {
    before_value();
    out_ += "null";
    return *this;
  }
  /// Inserts already-serialized JSON as a value (trusted, not checked).
  JsonWriter& raw(std::string_view json) {
    before_value();
    out_ += json;
    return *this;
  }

  /// key(k) followed by value(v).
  template <class T>
  JsonWriter& field(std::string_view k, const T& v) {
    key(k);
    return value(v);
  }

  /// True once every object and array opened has been closed.
  [[nodiscard]] bool complete() const noexcept { return stack_.empty() && !out_.empty() && !key_pending_; }
  /// The document; throws ConfigError if it is not complete.
  [[nodiscard]] const std::string& str() const {
    if (!complete()) throw ConfigError("JsonWriter::str: the document has unclosed objects or arrays");
    return out_;
  }
  void clear() noexcept {
    out_.clear();
    stack_.clear();
    key_pending_ = false;
  }

 private:
  struct Level {
    bool object;
    std::size_t count;
  };
  void before_value() {
    if (stack_.empty()) {
      if (!out_.empty()) throw ConfigError("JsonWriter: a second top-level value");
      return;
    }
    auto& top = stack_.back();
    if (top.object) {
      if (!key_pending_) throw ConfigError("JsonWriter: a value inside an object needs a key first");
      key_pending_ = false;
    } else if (top.count++ > 0) {
      out_ += ',';
    }
  }

  std::string out_;
  std::vector<Level> stack_;
  bool key_pending_ = false;
};

}  // namespace nas
