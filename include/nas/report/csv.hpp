// CSV (RFC 4180): a writer that quotes fields when needed, and a small reader for the same dialect.
#pragma once

#include <charconv>
#include <concepts>
#include <cstddef>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "nas/core/error.hpp"

namespace nas {

/// `s` as one CSV field: quoted (with inner quotes doubled) when it holds a comma, a
/// quote, a line break or leading/trailing spaces; as is otherwise.
[[nodiscard]] inline std::string csv_field(std::string_view s) {
  const bool quote = s.find_first_of(",\"\r\n") != std::string_view::npos ||
                     (!s.empty() && (s.front() == ' ' || s.back() == ' '));
  if (!quote) return std::string(s);
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

/// A number as a CSV field: the shortest text that reads back to the same value
/// ("nan", "inf" and "-inf" for non-finite values, as pandas and numpy read them).
template <class T>
  requires std::is_arithmetic_v<T>
[[nodiscard]] std::string csv_number(T v) {
  if constexpr (std::is_same_v<T, bool>) {
    return v ? "1" : "0";
  } else if constexpr (std::is_floating_point_v<T>) {
    if (v != v) return "nan";
    if (v == std::numeric_limits<T>::infinity()) return "inf";
    if (v == -std::numeric_limits<T>::infinity()) return "-inf";
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    return std::string(buf, static_cast<std::size_t>(r.ptr - buf));
  } else {
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    return std::string(buf, static_cast<std::size_t>(r.ptr - buf));
  }
}

/// Joins fields into one CSV line (without the line break).
[[nodiscard]] inline std::string csv_line(const std::vector<std::string>& fields) {
  std::string out;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i) out += ',';
    out += csv_field(fields[i]);
  }
  return out;
}

/// Writes a CSV file row by row; numbers are written exactly (see csv_number).
///
///     nas::CsvWriter csv("trials.csv", {"trial", "arch", "score"});
///     csv.row(0, "|nor_conv_3x3~0|+|...|", 93.1);
///
/// Every row must have as many fields as the header. Throws DataError naming the path
/// when the file cannot be opened.
class CsvWriter {
 public:
  CsvWriter(const std::string& path, std::vector<std::string> header) : path_(path), columns_(header.size()) {
    out_.open(path, std::ios::binary | std::ios::trunc);
    if (!out_) throw DataError("CsvWriter: cannot open '" + path + "' for writing");
    if (columns_ == 0) throw ConfigError("CsvWriter: the header of '" + path + "' has no columns");
    write_line(header);
  }

  /// One row from strings.
  CsvWriter& row(const std::vector<std::string>& fields) {
    write_line(fields);
    return *this;
  }
  /// One row from a mix of strings and numbers.
  template <class... Ts>
    requires(sizeof...(Ts) > 0)
  CsvWriter& row(const Ts&... values) {
    std::vector<std::string> fields;
    fields.reserve(sizeof...(Ts));
    (fields.push_back(to_field(values)), ...);
    write_line(fields);
    return *this;
  }
  void flush() { out_.flush(); }
  [[nodiscard]] const std::string& path() const noexcept { return path_; }

 private:
  template <class T>
  static std::string to_field(const T& v) {
    if constexpr (std::is_arithmetic_v<T>)
      return csv_number(v);
    else
      return std::string(std::string_view(v));
  }
  void write_line(const std::vector<std::string>& fields) {
    if (fields.size() != columns_)
      throw ConfigError("CsvWriter: row of " + std::to_string(fields.size()) + " fields for " + std::to_string(columns_) +
                        " columns in '" + path_ + "'");
    out_ << csv_line(fields) << '\n';
    if (!out_) throw DataError("CsvWriter: write failed on '" + path_ + "'");
  }

  std::string path_;
  std::size_t columns_;
  std::ofstream out_;
};

/// Parses CSV text into rows of fields (quoted fields may hold commas, doubled quotes
/// and line breaks; CRLF and LF both end a row). Throws ParseError on an unterminated
/// quote, naming the line where it began.
[[nodiscard]] inline std::vector<std::vector<std::string>> parse_csv(std::string_view text) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false, any = false;
  std::size_t line = 1, quote_line = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        if (c == '\n') ++line;
        field += c;
      }
      continue;
    }
    if (c == '"') {
      quoted = true;
      quote_line = line;
      any = true;
    } else if (c == ',') {
      row.push_back(std::move(field));
      field.clear();
      any = true;
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      ++line;
      row.push_back(std::move(field));
      field.clear();
      rows.push_back(std::move(row));
      row.clear();
      any = false;
    } else {
      field += c;
      any = true;
    }
  }
  if (quoted) throw ParseError("parse_csv: unterminated quoted field starting on line " + std::to_string(quote_line));
  if (any) {
    row.push_back(std::move(field));
    rows.push_back(std::move(row));
  }
  return rows;
}

/// Reads and parses a CSV file; throws DataError naming the path if it cannot be read.
[[nodiscard]] inline std::vector<std::vector<std::string>> read_csv(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DataError("read_csv: cannot open '" + path + "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse_csv(ss.str());
}

}  // namespace nas
