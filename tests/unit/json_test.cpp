#include <gtest/gtest.h>

#include "actors/log_text.hpp"
#include "http/json.hpp"
#include "http/problem.hpp"

namespace cartd {
namespace {

TEST(json, writer_escapes_strings) {
  json_writer w;
  w.begin_object().field("a", "q\"uote\n").field("n", static_cast<std::int64_t>(-5)).end_object();
  EXPECT_EQ(w.str(), R"({"a":"q\"uote\n","n":-5})");
}

TEST(json, log_text_is_quoted_and_escaped) {
  EXPECT_EQ(json_quoted("plain"), "\"plain\"");
  EXPECT_EQ(json_quoted("say \"no\" \\ then\nnext\x01"), "\"say \\\"no\\\" \\\\ then\\nnext\\u0001\"");
}

TEST(json, reader_classifies_bad_bodies) {
  EXPECT_EQ(body_reader("{").error()->code, error_code::invalid_json);
  EXPECT_EQ(body_reader("{\"a\":\"\xff\"}").error()->code, error_code::invalid_json);
  EXPECT_EQ(body_reader("[1]").error()->code, error_code::validation_failed);
  EXPECT_EQ(body_reader("").error()->code, error_code::invalid_json);
  EXPECT_FALSE(body_reader("", true).error().has_value());
}

// Issue 13: what simdjson accepts and cartd refuses, and out-of-range numbers told apart from
// malformed ones.
TEST(json, reader_refuses_repeated_names_nul_and_deep_nesting_anywhere) {
  auto code_of = [](std::string_view body) {
    body_reader r(body);
    return r.error() ? r.error()->code : error_code::internal;
  };
  auto field_of = [](std::string_view body) {
    body_reader r(body);
    return r.error() && !r.error()->errors.empty() ? r.error()->errors[0].field : "?";
  };
  EXPECT_EQ(code_of(R"({"currency":"USD","currency":"EUR"})"), error_code::validation_failed);
  EXPECT_EQ(field_of(R"({"currency":"USD","currency":"EUR"})"), "currency");
  EXPECT_EQ(code_of(R"({"metadata":{"a":1,"b":[{"x":1,"x":2}]}})"), error_code::validation_failed);
  EXPECT_EQ(field_of(R"({"metadata":{"a":1,"b":[{"x":1,"x":2}]}})"), "metadata");
  EXPECT_EQ(code_of(R"({"name":"a\u0000b"})"), error_code::validation_failed);
  EXPECT_EQ(field_of(R"({"name":"a\u0000b"})"), "name");
  EXPECT_EQ(code_of(R"({"metadata":{"k\u0000":1}})"), error_code::validation_failed);
  std::string deep = R"({"metadata":)" + std::string(40, '[') + std::string(40, ']') + "}";
  EXPECT_EQ(code_of(deep), error_code::validation_failed);
  std::string ok_depth = R"({"metadata":{"a":)" + std::string(30, '[') + std::string(30, ']') + "}}";
  EXPECT_FALSE(body_reader(ok_depth).error().has_value());
  std::string very_deep = R"({"m":)" + std::string(5000, '[') + std::string(5000, ']') + "}";
  EXPECT_EQ(code_of(very_deep), error_code::invalid_json);
  // Well-formed but unreadable numbers are a range problem; malformed ones are not JSON.
  EXPECT_EQ(code_of(R"({"quantity":1e400})"), error_code::validation_failed);
  EXPECT_EQ(code_of(R"({"quantity":-99999999999999999999999})"), error_code::validation_failed);
  EXPECT_EQ(code_of(R"({"quantity":01})"), error_code::invalid_json);
  EXPECT_EQ(code_of(R"({"quantity":1.})"), error_code::invalid_json);
  EXPECT_EQ(code_of(R"({"quantity":--1})"), error_code::invalid_json);
  EXPECT_EQ(code_of(R"({"quantity":1x})"), error_code::invalid_json);
  EXPECT_EQ(code_of(R"({"quantity":0x1F})"), error_code::invalid_json);
  EXPECT_EQ(code_of(R"({"s":"1e400 in a string","quantity":1e400})"), error_code::validation_failed);
  // Unicode that is valid is kept byte for byte; the invalid kinds are not JSON.
  body_reader uni(R"({"name":"\u00e9\ud83d\ude00 \u200d\u202e \uffff \udbff\udfff"})");
  ASSERT_FALSE(uni.error().has_value());
  EXPECT_EQ(*uni.string("name", true, 1, 100),
            "\xc3\xa9\xf0\x9f\x98\x80 \xe2\x80\x8d\xe2\x80\xae \xef\xbf\xbf \xf4\x8f\xbf\xbf");
  EXPECT_EQ(code_of("{\"name\":\"\xc0\x80\"}"), error_code::invalid_json);          // overlong NUL
  EXPECT_EQ(code_of("{\"name\":\"\xed\xa0\x80\"}"), error_code::invalid_json);      // UTF-8 surrogate
  EXPECT_EQ(code_of("{\"name\":\"\xf4\x90\x80\x80\"}"), error_code::invalid_json);  // > U+10FFFF
  EXPECT_EQ(code_of(R"({"name":"\ud800"})"), error_code::invalid_json);  // lone surrogate escape
  EXPECT_EQ(code_of(std::string("{\"name\":\"a\0b\"}", 14)), error_code::invalid_json);  // raw NUL
}

TEST(json, reader_collects_every_field_error) {
  body_reader r(R"({"quantity": 1.5, "name": 3, "ok": "yes", "n": null})");
  ASSERT_FALSE(r.error());
  EXPECT_FALSE(r.integer("quantity", true, 1, 10));
  EXPECT_FALSE(r.string("name", true, 1, 10));
  EXPECT_FALSE(r.boolean("ok", true));
  EXPECT_FALSE(r.integer("missing", true, 0, 1));
  EXPECT_FALSE(r.integer("n", false, 0, 1));  // null is the same as omitted
  auto e = r.validation_error();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->errors.size(), 4u);
}

TEST(json, integers_out_of_range_and_strings_are_refused) {
  body_reader r(R"({"a": 0, "b": 1000, "c": "2", "d": 5})");
  EXPECT_FALSE(r.integer("a", true, 1, 999));
  EXPECT_FALSE(r.integer("b", true, 1, 999));
  EXPECT_FALSE(r.integer("c", true, 1, 999));
  EXPECT_EQ(r.integer("d", true, 1, 999), 5);
  EXPECT_EQ(r.validation_error()->errors.size(), 3u);
}

TEST(json, members_are_each_top_level_field_as_minified_json_in_order) {
  body_reader r(R"({"b": [1, 2], "a\"q": {"x" : null}, "n": null, "s": "t\u00e9"})");
  auto m = r.members();
  ASSERT_EQ(m.size(), 4u);
  EXPECT_EQ(m[0], (std::pair<std::string, std::string>{"b", "[1,2]"}));
  EXPECT_EQ(m[1], (std::pair<std::string, std::string>{"a\"q", "{\"x\":null}"}));
  EXPECT_EQ(m[2], (std::pair<std::string, std::string>{"n", "null"}));
  EXPECT_EQ(m[3].second, "\"t\xc3\xa9\"");
  // Written back under their keys, they make the same object.
  json_writer w;
  w.begin_object();
  for (const auto& [k, v] : m) w.key(k).raw_or_null(v);
  w.end_object();
  EXPECT_EQ(w.str(), "{\"b\":[1,2],\"a\\\"q\":{\"x\":null},\"n\":null,\"s\":\"t\xc3\xa9\"}");
}

TEST(json, a_reader_of_bad_json_answers_nothing_for_any_field) {
  body_reader r("{\"a\": ");
  ASSERT_TRUE(r.error());
  EXPECT_FALSE(r.string("a", false, 0, 10));
  EXPECT_FALSE(r.integer("a", false, 0, 10));
  EXPECT_FALSE(r.boolean("a", false));
  EXPECT_FALSE(r.string_array("a", false, 10, 10));
  EXPECT_FALSE(r.has("a"));
  EXPECT_TRUE(r.members().empty());
}

TEST(problem, server_errors_do_not_leak_details) {
  auto body = problem_body(make_error(error_code::internal, "SELECT * FROM secrets"), "/x", "r1");
  EXPECT_EQ(body.find("SELECT"), std::string::npos);
  EXPECT_NE(body.find("\"code\":\"internal\""), std::string::npos);
  EXPECT_EQ(http_status(error_code::unavailable), 503);
  EXPECT_EQ(http_status(error_code::version_mismatch), 412);
}

}  // namespace
}  // namespace cartd

namespace cartd {
namespace {

TEST(json, a_nested_reader_leaves_the_outer_body_readable) {
  body_reader outer(R"({"a": {"x": 1}, "b": "kept"})");
  auto inner_text = outer.object_json("a", true, 100);
  ASSERT_TRUE(inner_text);
  {
    body_reader inner(*inner_text);
    EXPECT_EQ(inner.integer("x", true, 0, 10), 1);
  }
  EXPECT_EQ(outer.string("b", true, 1, 10), std::string("kept"));
}

}  // namespace
}  // namespace cartd
