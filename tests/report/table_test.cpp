// CSV writer/reader, Markdown tables and number formatting.
#include <catch2/catch.hpp>

#include <nas/report/csv.hpp>
#include <nas/report/markdown.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

TEST_CASE("csv_field quotes only when needed and doubles inner quotes", "[report][csv]") {
  REQUIRE(nas::csv_field("plain") == "plain");
  REQUIRE(nas::csv_field("a,b") == "\"a,b\"");
  REQUIRE(nas::csv_field("say \"hi\"") == "\"say \"\"hi\"\"\"");
  REQUIRE(nas::csv_field("two\nlines") == "\"two\nlines\"");
  REQUIRE(nas::csv_field(" padded") == "\" padded\"");
  REQUIRE(nas::csv_field("") == "");
  REQUIRE(nas::csv_number(0.1) == "0.1");
  REQUIRE(nas::csv_number(42) == "42");
  REQUIRE(nas::csv_number(std::numeric_limits<double>::quiet_NaN()) == "nan");
  REQUIRE(nas::csv_number(-std::numeric_limits<double>::infinity()) == "-inf");
}

TEST_CASE("CsvWriter output reads back field for field", "[report][csv]") {
  const auto path = (std::filesystem::temp_directory_path() / "nas_csv_test.csv").string();
  {
    nas::CsvWriter csv(path, {"trial", "arch", "score"});
    csv.row(0, "|nor_conv_3x3~0|+|skip_connect~0|", 93.5);
    csv.row(1, std::string("Genotype(normal=[('sep_conv_3x3', 0), ('skip', 1)])"), std::nan(""));
    csv.row({"2", "multi\nline \"quoted\"", "1e-07"});
    REQUIRE_THROWS_AS(csv.row(3, "short"), nas::ConfigError);
  }
  const auto rows = nas::read_csv(path);
  REQUIRE(rows.size() == 4);
  REQUIRE(rows[0] == std::vector<std::string>{"trial", "arch", "score"});
  REQUIRE(rows[1][1] == "|nor_conv_3x3~0|+|skip_connect~0|");
  REQUIRE(rows[2][1] == "Genotype(normal=[('sep_conv_3x3', 0), ('skip', 1)])");
  REQUIRE(rows[2][2] == "nan");
  REQUIRE(rows[3][1] == "multi\nline \"quoted\"");
  std::filesystem::remove(path);
  REQUIRE_THROWS_WITH(nas::CsvWriter("/nonexistent-dir/a.csv", {"x"}), Catch::Contains("/nonexistent-dir/a.csv"));
}

TEST_CASE("parse_csv handles CRLF, empty fields and reports an unterminated quote", "[report][csv]") {
  const auto rows = nas::parse_csv("a,,c\r\n1,2,3\nx");
  REQUIRE(rows.size() == 3);
  REQUIRE(rows[0] == std::vector<std::string>{"a", "", "c"});
  REQUIRE(rows[2] == std::vector<std::string>{"x"});
  REQUIRE_THROWS_WITH(nas::parse_csv("a\n\"open,b\n"), Catch::Contains("line 2"));
}

TEST_CASE("MarkdownTable pads columns and marks alignment", "[report][markdown]") {
  nas::MarkdownTable t({"strategy", "accuracy (%)"});
  t.row({"random", nas::fmt_pm(93.12, 0.3)}).row({"regularized evolution", nas::fmt(94.0)});
  t.row({"a|b", "1"});
  const std::string s = t.str();
  std::istringstream in(s);
  std::string line;
  std::vector<std::string> lines;
  while (std::getline(in, line)) lines.push_back(line);
  REQUIRE(lines.size() == 5);
  REQUIRE(lines[1].rfind("| :---", 0) == 0);
  REQUIRE(lines[1].find("-: |") != std::string::npos);
  REQUIRE_THAT(s, Catch::Contains("| random                | 93.12 \xc2\xb1 0.30 |"));
  REQUIRE_THAT(s, Catch::Contains("a\\|b"));
  // Every line has the same number of code points.
  auto width = [](const std::string& l) {
    std::size_t n = 0;
    for (unsigned char c : l) n += (c & 0xC0) != 0x80;
    return n;
  };
  for (const auto& l : lines) REQUIRE(width(l) == width(lines[0]));
  REQUIRE_THROWS_AS(t.row({"only one"}), nas::ConfigError);
}

TEST_CASE("number formatting helpers", "[report][format]") {
  REQUIRE(nas::fmt(93.456, 1) == "93.5");
  REQUIRE(nas::fmt(-0.0001, 2) == "0.00");
  REQUIRE(nas::fmt(std::nan("")) == "n/a");
  REQUIRE(nas::fmt_count(1234567) == "1,234,567");
  REQUIRE(nas::fmt_count(-999) == "-999");
  REQUIRE(nas::fmt_si(1.23e6) == "1.23M");
  REQUIRE(nas::fmt_si(456000) == "456k");
  REQUIRE(nas::fmt_duration(0.25) == "250 ms");
  REQUIRE(nas::fmt_duration(12.34) == "12.3 s");
  REQUIRE(nas::fmt_duration(245) == "4m 05s");
  REQUIRE(nas::fmt_duration(7620) == "2h 07m");
}
