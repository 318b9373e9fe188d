#include <gtest/gtest.h>

#include "http/json.hpp"
#include "http/problem.hpp"

namespace cartd {
namespace {

TEST(json, writer_escapes_strings) {
  json_writer w;
  w.begin_object().field("a", "q\"uote\n").field("n", static_cast<std::int64_t>(-5)).end_object();
  EXPECT_EQ(w.str(), R"({"a":"q\"uote\n","n":-5})");
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

TEST(problem, server_errors_do_not_leak_details) {
  auto body = problem_body(make_error(error_code::internal, "SELECT * FROM secrets"), "/x", "r1");
  EXPECT_EQ(body.find("SELECT"), std::string::npos);
  EXPECT_NE(body.find("\"code\":\"internal\""), std::string::npos);
  EXPECT_EQ(http_status(error_code::unavailable), 503);
  EXPECT_EQ(http_status(error_code::version_mismatch), 412);
}

}  // namespace
}  // namespace cartd
