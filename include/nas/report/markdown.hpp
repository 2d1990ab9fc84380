// Markdown tables with aligned columns (and the number formatting helpers of format.hpp).
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "nas/core/error.hpp"
#include "nas/report/format.hpp"

namespace nas {

enum class Align { left, right, center };

/// A GitHub-flavoured Markdown table whose columns are padded to equal width so that
/// the source reads as a table too:
///
///     nas::MarkdownTable t({"strategy", "accuracy", "trials"}, {nas::Align::left, nas::Align::right});
///     t.row({"random", nas::fmt(93.12), "500"});
///     std::cout << t.str();
///
/// Missing alignments default to left for the first column and right for the others
/// (numbers). A `|` inside a cell is escaped.
class MarkdownTable {
 public:
  explicit MarkdownTable(std::vector<std::string> header, std::vector<Align> align = {})
      : header_(std::move(header)), align_(std::move(align)) {
    if (header_.empty()) throw ConfigError("MarkdownTable: a table needs at least one column");
    if (align_.size() > header_.size())
      throw ConfigError("MarkdownTable: " + std::to_string(align_.size()) + " alignments for " +
                        std::to_string(header_.size()) + " columns");
    while (align_.size() < header_.size()) align_.push_back(align_.empty() ? Align::left : Align::right);
  }

  MarkdownTable& row(std::vector<std::string> cells) {
    if (cells.size() != header_.size())
      throw ConfigError("MarkdownTable::row: " + std::to_string(cells.size()) + " cells for " +
                        std::to_string(header_.size()) + " columns");
    rows_.push_back(std::move(cells));
    return *this;
  }

  [[nodiscard]] std::size_t rows() const noexcept { return rows_.size(); }

  [[nodiscard]] std::string str() const {
    const std::size_t nc = header_.size();
    std::vector<std::size_t> width(nc, 3);
    const auto measure = [&](const std::vector<std::string>& r) {
      for (std::size_t c = 0; c < nc; ++c) width[c] = std::max(width[c], display_width(escape(r[c])));
    };
    measure(header_);
    for (const auto& r : rows_) measure(r);
    std::string out;
    const auto line = [&](const std::vector<std::string>& r) {
      out += '|';
      for (std::size_t c = 0; c < nc; ++c) {
        const std::string cell = escape(r[c]);
        const std::size_t pad = width[c] - display_width(cell);
        const std::size_t before = align_[c] == Align::right ? pad : align_[c] == Align::center ? pad / 2 : 0;
        out += ' ';
        out.append(before, ' ');
        out += cell;
        out.append(pad - before, ' ');
        out += " |";
      }
      out += '\n';
    };
    line(header_);
    out += '|';
    for (std::size_t c = 0; c < nc; ++c) {
      const bool l = align_[c] != Align::right, r = align_[c] != Align::left;
      out += ' ';
      out += l ? ':' : '-';
      out.append(width[c] - 2, '-');
      out += r ? ':' : '-';
      out += " |";
    }
    out += '\n';
    for (const auto& r : rows_) line(r);
    return out;
  }

 private:
  static std::string escape(std::string_view s) {
    std::string out;
    for (char c : s) {
      if (c == '|') out += '\\';
      out += (c == '\n' || c == '\r') ? ' ' : c;
    }
    return out;
  }
  // Columns are counted in code points so that "±" or "é" pad like one character.
  static std::size_t display_width(std::string_view s) {
    std::size_t n = 0;
    for (unsigned char c : s) n += (c & 0xC0) != 0x80;
    return n;
  }

  std::vector<std::string> header_;
  std::vector<Align> align_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace nas
