// JSON writer: escaping, numbers (NaN/inf as null), nesting checks.
#include <catch2/catch.hpp>

#include <nas/report/json.hpp>

#include <cmath>
#include <limits>
#include <string>

TEST_CASE("json_string escapes quotes, backslashes and every control character", "[report][json]") {
  REQUIRE(nas::json_string("plain") == "\"plain\"");
  REQUIRE(nas::json_string("a\"b\\c") == "\"a\\\"b\\\\c\"");
  REQUIRE(nas::json_string("\n\t\r\b\f") == "\"\\n\\t\\r\\b\\f\"");
  REQUIRE(nas::json_string(std::string("\x01\x1f", 2)) == "\"\\u0001\\u001f\"");
  REQUIRE(nas::json_string(std::string("nul\0x", 5)) == "\"nul\\u0000x\"");
  REQUIRE(nas::json_string("\xc2\xb1 utf8") == "\"\xc2\xb1 utf8\"");
}

TEST_CASE("json_number round-trips doubles and writes non-finite values as null", "[report][json]") {
  REQUIRE(nas::json_number(0.1) == "0.1");
  REQUIRE(nas::json_number(93.76) == "93.76");
  REQUIRE(nas::json_number(3.0) == "3");
  REQUIRE(std::stod(nas::json_number(1.0 / 3.0)) == 1.0 / 3.0);
  REQUIRE(nas::json_number(std::numeric_limits<double>::quiet_NaN()) == "null");
  REQUIRE(nas::json_number(std::numeric_limits<double>::infinity()) == "null");
  REQUIRE(nas::json_number(-std::numeric_limits<double>::infinity()) == "null");
}

TEST_CASE("JsonWriter builds nested documents with commas in the right places", "[report][json]") {
  nas::JsonWriter j;
  j.begin_object().field("trial", 3).field("ok", true).field("name", "a\"b");
  j.key("list").begin_array().value(1).value(2.5).null().value(std::nan("")).end_array();
  j.key("m").begin_object().end_object();
  j.field("big", std::size_t{12345678901234ULL});
  j.end_object();
  REQUIRE(j.str() == R"({"trial":3,"ok":true,"name":"a\"b","list":[1,2.5,null,null],"m":{},"big":12345678901234})");
}

TEST_CASE("JsonWriter rejects misuse instead of writing broken JSON", "[report][json]") {
  nas::JsonWriter a;
  a.begin_object();
  REQUIRE_THROWS_AS(a.value(1), nas::ConfigError);  // no key
  REQUIRE_THROWS_AS(a.str(), nas::ConfigError);     // unclosed
  REQUIRE_THROWS_AS(a.end_array(), nas::ConfigError);
  nas::JsonWriter b;
  b.begin_array();
  REQUIRE_THROWS_AS(b.key("k"), nas::ConfigError);
  b.end_array();
  REQUIRE_THROWS_AS(b.value(2), nas::ConfigError);  // second top-level value
  REQUIRE(b.str() == "[]");
}
