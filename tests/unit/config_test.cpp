#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "config/config.hpp"

namespace cartd {
namespace {

TEST(config, durations_need_a_unit) {
  millis d{};
  EXPECT_TRUE(parse_duration("250ms", d));
  EXPECT_EQ(d.count(), 250);
  EXPECT_TRUE(parse_duration("2s", d));
  EXPECT_EQ(d.count(), 2000);
  EXPECT_TRUE(parse_duration("15m", d));
  EXPECT_EQ(d.count(), 900000);
  EXPECT_TRUE(parse_duration("24h", d));
  EXPECT_EQ(d.count(), 86400000);
  EXPECT_FALSE(parse_duration("10", d));
  EXPECT_FALSE(parse_duration("s", d));
  EXPECT_FALSE(parse_duration("1.5s", d));
  EXPECT_FALSE(parse_duration("-1s", d));
}

TEST(config, defaults_are_valid) {
  config c;
  std::vector<std::string> errors;
  EXPECT_TRUE(load_config("", {}, c, errors));
  EXPECT_EQ(c.http.port, 8080);
  EXPECT_EQ(c.store.url, "sqlite://./data/cartd.db");
  EXPECT_EQ(c.data_dir(), "./data");
}

TEST(config, environment_overrides_and_every_error_is_reported) {
  config c;
  std::vector<std::string> errors;
  std::map<std::string, std::string> env = {{"CARTD_HTTP_PORT", "70000"},
                                            {"CARTD_CART_IDLE_TIMEOUT", "soon"},
                                            {"CARTD_STORE_GROUP_COMMIT", "maybe"},
                                            {"CARTD_CART_MAX_LINES", "5"}};
  EXPECT_FALSE(load_config("", env, c, errors));
  EXPECT_EQ(errors.size(), 3u);
  EXPECT_EQ(c.cart.max_lines, 5);
}

TEST(config, toml_file_then_environment) {
  auto path = ::testing::TempDir() + "cartd_test.toml";
  {
    std::ofstream out(path);
    out << "[http]\nport = 9000\nrequest_timeout = \"2s\"\n[cart]\nmax_lines = 7\n";
  }
  config c;
  std::vector<std::string> errors;
  ASSERT_TRUE(load_config(path, {{"CARTD_CART_MAX_LINES", "9"}}, c, errors));
  EXPECT_EQ(c.http.port, 9000);
  EXPECT_EQ(c.http.request_timeout.count(), 2000);
  EXPECT_EQ(c.cart.max_lines, 9);
  std::remove(path.c_str());
}

// Found by fuzz/fuzz_config (fuzz/regressions/config/): toml++ 3.3.0 reaches an unreachable
// branch on U+02BF and its neighbours; such a file is refused before toml++ reads it.
TEST(config, a_non_ascii_config_file_is_refused_before_toml_reads_it) {
  auto path = ::testing::TempDir() + "cartd_utf8.toml";
  {
    std::ofstream out(path, std::ios::binary);
    out << "[auth]\njwt_secret = \"012345\xca\xbf" "90abcdef0123\"\n";
  }
  config c;
  std::vector<std::string> errors;
  EXPECT_FALSE(load_config(path, {}, c, errors));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find(":2: only ASCII"), std::string::npos) << errors[0];
  std::remove(path.c_str());
}

TEST(config, unknown_toml_keys_are_errors) {
  auto path = ::testing::TempDir() + "cartd_bad.toml";
  {
    std::ofstream out(path);
    out << "[http]\nprot = 9000\n";
  }
  config c;
  std::vector<std::string> errors;
  EXPECT_FALSE(load_config(path, {}, c, errors));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("http.prot"), std::string::npos);
  std::remove(path.c_str());
}

TEST(config, described_keys_carry_their_variables_and_mask_secrets) {
  config c;
  std::vector<std::string> errors;
  ASSERT_TRUE(load_config("",
                          {{"CARTD_AUTH_JWT_SECRET", "0123456789abcdef-secret"},
                           {"CARTD_STORE_URL", "postgresql://cartd:hunter2@db:5432/cartd?password=x"},
                           {"CARTD_HTTP_DRAIN_PERIOD", "90s"},
                           {"CARTD_HTTP_REQUEST_TIMEOUT", "1500ms"}},
                          c, errors));
  std::map<std::string, config_entry> by_key;
  for (auto& e : describe_config(c)) by_key[e.key] = e;
  EXPECT_EQ(by_key["auth.jwt_secret"].value, "********");
  EXPECT_TRUE(by_key["auth.jwt_secret"].secret);
  EXPECT_EQ(by_key["auth.operator_token"].value, "");  // unset: nothing to hide
  EXPECT_EQ(by_key["store.url"].value, "postgresql://cartd:********@db:5432/cartd?password=********");
  EXPECT_EQ(by_key["http.drain_period"].value, "90s");
  EXPECT_EQ(by_key["http.drain_period"].env, "CARTD_HTTP_DRAIN_PERIOD");
  EXPECT_EQ(by_key["http.request_timeout"].value, "1500ms");
  EXPECT_EQ(by_key["http.port"].value, "8080");
  EXPECT_FALSE(by_key["http.port"].secret);
  EXPECT_EQ(by_key["cart.idle_timeout"].value, "5m");
}

TEST(config, an_operator_token_is_at_least_16_bytes) {
  config c;
  std::vector<std::string> errors;
  EXPECT_FALSE(load_config("", {{"CARTD_AUTH_OPERATOR_TOKEN", "short"}}, c, errors));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("CARTD_AUTH_OPERATOR_TOKEN"), std::string::npos);
}

}  // namespace
}  // namespace cartd
