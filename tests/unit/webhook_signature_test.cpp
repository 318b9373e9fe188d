// The webhook's Cartd-Signature header: parsing, the time window, and the check, with a fake
// HMAC so that no key and no crypto library is needed.
#include "domain/webhook_signature.hpp"

#include <gtest/gtest.h>

#include <cctype>
#include <cstdio>
#include <limits>
#include <string>

namespace cartd {
namespace {

constexpr std::int64_t now = 1'796'256'000;

// Deterministic, 64 lowercase hex digits, and every byte of the message changes it: four
// FNV-1a hashes with different seeds. `secret` stands for the key.
std::string fake_hmac(std::string_view secret, std::string_view message) {
  std::string out;
  for (std::uint64_t seed = 0; seed < 4; ++seed) {
    std::uint64_t h = 14695981039346656037ull ^ seed;
    for (std::string_view part : {secret, std::string_view{"|"}, message})
      for (char c : part) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
    out += buf;
  }
  return out;
}

hmac_hex_fn keyed(std::string secret) {
  return [secret](std::string_view m) { return fake_hmac(secret, m); };
}

const std::string hex_a(64, 'a');
const std::string hex_b(64, 'B');

TEST(webhook_signature, the_fake_hmac_looks_like_the_real_one) {
  EXPECT_EQ(fake_hmac("k", "1.{}").size(), 64u);
  EXPECT_NE(fake_hmac("k", "1.{}"), fake_hmac("k", "1.{ }"));
  EXPECT_NE(fake_hmac("k", "1.{}"), fake_hmac("j", "1.{}"));
}

TEST(webhook_signature, parses_t_and_every_v1_in_order) {
  auto h = parse_signature_header("t=1796256000,v1=" + hex_a + ", v1=" + hex_b);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->t, 1796256000);
  ASSERT_EQ(h->v1.size(), 2u);
  EXPECT_EQ(h->v1[0], hex_a);
  EXPECT_EQ(h->v1[1], hex_b);  // kept as sent; verify lowercases
}

TEST(webhook_signature, header_parsing_edge_cases) {
  struct row {
    std::string header;
    bool ok;
    const char* why;
  };
  const row rows[] = {
      {"t=5,v1=" + hex_a, true, "minimal"},
      {"v1=" + hex_a + ",t=5", true, "any order"},
      {"t=5,  v1=" + hex_a, true, "spaces after a comma"},
      {" t=5,\tv1=" + hex_a + " ", true, "blanks around items"},
      {"t=5,v0=zz-not-hex,v1=" + hex_a + ",x=", true, "unknown keys are ignored"},
      {"t=5,v1=" + hex_a + ",", true, "a trailing comma"},
      {"t=0,v1=" + hex_a, true, "t of zero (the window refuses it, not the parser)"},
      {"", false, "empty"},
      {"t=5", false, "no v1"},
      {"t=5,v0=" + hex_a, false, "only a v0"},
      {"v1=" + hex_a, false, "no t"},
      {"t=,v1=" + hex_a, false, "empty t"},
      {"t=12a,v1=" + hex_a, false, "non-numeric t"},
      {"t=-5,v1=" + hex_a, false, "negative t"},
      {"t=+5,v1=" + hex_a, false, "signed t"},
      {"t=05,v1=" + hex_a, false, "leading zero: not the bytes that were signed"},
      {"t=99999999999999999999,v1=" + hex_a, false, "t overflows"},
      {"t=5,t=6,v1=" + hex_a, false, "two t"},
      {"t = 5,v1=" + hex_a, false, "spaces around = make an unknown key, then no t"},
      {"t=5,v1=" + std::string(63, 'a'), false, "v1 too short"},
      {"t=5,v1=" + std::string(65, 'a'), false, "v1 too long"},
      {"t=5,v1=" + std::string(63, 'a') + "g", false, "v1 not hex"},
      {"t=5,v1=" + hex_a + ",v1=abc", false, "one bad v1 among good ones"},
      {"t=5,v1", false, "an item without ="},
  };
  for (const auto& r : rows)
    EXPECT_EQ(parse_signature_header(r.header).has_value(), r.ok) << r.why << ": " << r.header;
}

TEST(webhook_signature, the_window_is_300_seconds_both_ways) {
  struct row {
    std::int64_t t;
    bool ok;
  };
  const row rows[] = {
      {now, true},
      {now - 300, true},
      {now + 300, true},
      {now - 301, false},
      {now + 301, false},
      {0, false},
      {std::numeric_limits<std::int64_t>::max(), false},
      {std::numeric_limits<std::int64_t>::min(), false},
  };
  for (const auto& r : rows) EXPECT_EQ(within_tolerance(r.t, now), r.ok) << r.t;
  EXPECT_TRUE(within_tolerance(now - 10, now, 10));
  EXPECT_FALSE(within_tolerance(now - 11, now, 10));
  EXPECT_FALSE(within_tolerance(now, now, -1));
  EXPECT_TRUE(within_tolerance(std::numeric_limits<std::int64_t>::max(),
                               std::numeric_limits<std::int64_t>::max()));
}

TEST(webhook_signature, constant_time_equal_compares_bytes_and_lengths) {
  EXPECT_TRUE(constant_time_equal("", ""));
  EXPECT_TRUE(constant_time_equal(hex_a, hex_a));
  EXPECT_FALSE(constant_time_equal(hex_a, std::string(63, 'a') + "b"));
  EXPECT_FALSE(constant_time_equal("b" + std::string(63, 'a'), hex_a));
  EXPECT_FALSE(constant_time_equal(hex_a, std::string(63, 'a')));
  EXPECT_FALSE(constant_time_equal("abc", "ABC"));  // exact: callers lowercase first
}

signature_header signed_by(const std::string& secret, std::int64_t t, std::string_view body) {
  return signature_header{t, {fake_hmac(secret, std::to_string(t) + "." + std::string(body))}};
}

TEST(webhook_signature, verifies_the_hmac_of_t_dot_raw_body) {
  const std::string body = R"({"id":"evt_1","type":"payment.captured"})";
  std::string seen;
  hmac_hex_fn spy = [&seen](std::string_view m) {
    seen = std::string(m);
    return fake_hmac("s1", m);
  };
  EXPECT_TRUE(verify_signature(signed_by("s1", now, body), body, now, spy));
  EXPECT_EQ(seen, std::to_string(now) + "." + body);
  EXPECT_FALSE(verify_signature(signed_by("s1", now, body), body + " ", now, spy));
  EXPECT_FALSE(verify_signature(signed_by("other", now, body), body, now, spy));
  auto moved = signed_by("s1", now - 1, body);
  moved.t = now;  // a valid signature replayed under a fresher t
  EXPECT_FALSE(verify_signature(moved, body, now, keyed("s1"))) << "t is part of what is signed";
}

TEST(webhook_signature, any_v1_matching_is_enough_and_case_does_not_matter) {
  const std::string body = "{}";
  auto good = signed_by("new", now, body).v1[0];
  std::string upper = good;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  auto parsed = parse_signature_header("t=" + std::to_string(now) + ",v1=" + fake_hmac("old", "x") +
                                       ", v1=" + upper);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_TRUE(verify_signature(*parsed, body, now, keyed("new")));
  EXPECT_FALSE(verify_signature(*parsed, body, now, keyed("neither")));
}

TEST(webhook_signature, a_stale_or_future_t_fails_even_when_correctly_signed) {
  const std::string body = "{}";
  for (std::int64_t t : {now - 301, now + 301, now - 86'400}) {
    int calls = 0;
    hmac_hex_fn counting = [&calls](std::string_view m) {
      ++calls;
      return fake_hmac("s", m);
    };
    EXPECT_FALSE(verify_signature(signed_by("s", t, body), body, now, counting)) << t;
    EXPECT_EQ(calls, 0) << "no HMAC is computed outside the window";
  }
  EXPECT_TRUE(verify_signature(signed_by("s", now - 300, body), body, now, keyed("s")));
}

TEST(webhook_signature, a_missing_or_broken_hmac_never_verifies) {
  auto h = signed_by("s", now, "{}");
  EXPECT_FALSE(verify_signature(h, "{}", now, hmac_hex_fn{}));
  EXPECT_FALSE(verify_signature(h, "{}", now, [](std::string_view) { return std::string(); }));
  signature_header wrong_length{now, {std::string(10, 'a')}};
  EXPECT_FALSE(verify_signature(wrong_length, "{}", now,
                                [](std::string_view) { return std::string(10, 'a'); }));
  EXPECT_FALSE(verify_signature(signature_header{now, {}}, "{}", now, keyed("s")));
}

}  // namespace
}  // namespace cartd
