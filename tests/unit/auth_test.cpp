#include <gtest/gtest.h>

#include "http/auth.hpp"

namespace cartd {
namespace {

const jwt_settings settings{"0123456789abcdef0123", "", "", 60};
constexpr std::int64_t now = 1700000000;

TEST(jwt, minted_tokens_verify) {
  auto t = mint_jwt(settings, "alice", {"admin"}, 3600, now);
  auto c = verify_jwt(t, settings, now);
  ASSERT_TRUE(c.ok) << c.reason;
  EXPECT_EQ(c.sub, "alice");
  EXPECT_TRUE(c.admin);
}

TEST(jwt, expiry_allows_sixty_seconds_of_skew) {
  auto t = mint_jwt(settings, "alice", {}, 10, now);
  EXPECT_TRUE(verify_jwt(t, settings, now + 10 + 60).ok);
  EXPECT_FALSE(verify_jwt(t, settings, now + 10 + 61).ok);
}

TEST(jwt, another_secret_or_a_tampered_token_fails) {
  auto t = mint_jwt(settings, "alice", {}, 3600, now);
  jwt_settings other = settings;
  other.secret = "another-secret-entirely";
  EXPECT_FALSE(verify_jwt(t, other, now).ok);
  auto tampered = t;
  tampered[tampered.find('.') + 3] ^= 1;
  EXPECT_FALSE(verify_jwt(tampered, settings, now).ok);
  EXPECT_FALSE(verify_jwt("a.b", settings, now).ok);
  EXPECT_FALSE(verify_jwt("", settings, now).ok);
}

TEST(jwt, issuer_and_audience_are_checked_when_configured) {
  auto t = mint_jwt(settings, "alice", {}, 3600, now);
  jwt_settings strict = settings;
  strict.issuer = "shop";
  EXPECT_FALSE(verify_jwt(t, strict, now).ok);
  auto t2 = mint_jwt(strict, "alice", {}, 3600, now);
  EXPECT_TRUE(verify_jwt(t2, strict, now).ok);
}

TEST(hash, sha256_hex_is_stable) {
  EXPECT_EQ(sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_NE(random_token(32), random_token(32));
}

}  // namespace
}  // namespace cartd

namespace cartd {
namespace {

TEST(jwt, the_cache_never_outlives_a_tokens_expiry) {
  auto t = mint_jwt(settings, "alice", {}, 10, now);
  EXPECT_TRUE(verify_jwt_cached(t, settings, now).ok);
  EXPECT_TRUE(verify_jwt_cached(t, settings, now + 70).ok);
  EXPECT_FALSE(verify_jwt_cached(t, settings, now + 71).ok);
  EXPECT_FALSE(verify_jwt_cached(t + "x", settings, now).ok);
}

}  // namespace
}  // namespace cartd
