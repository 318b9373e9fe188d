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
