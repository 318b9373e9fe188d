// The rate limiter's token bucket: pure arithmetic, time injected.
#include "domain/token_bucket.hpp"

#include <gtest/gtest.h>

namespace cartd {
namespace {

TEST(token_bucket, a_full_bucket_allows_its_burst_then_refuses) {
  auto b = full_bucket(3, 1000);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(take_token(b, 1000, 10, 3).allowed) << i;
  auto v = take_token(b, 1000, 10, 3);
  EXPECT_FALSE(v.allowed);
  EXPECT_EQ(v.retry_after_ms, 100);  // 10 tokens/s: one token in 100 ms
}

TEST(token_bucket, refills_at_the_rate_and_never_above_the_burst) {
  auto b = full_bucket(2, 0);
  EXPECT_TRUE(take_token(b, 0, 4, 2).allowed);
  EXPECT_TRUE(take_token(b, 0, 4, 2).allowed);
  EXPECT_FALSE(take_token(b, 0, 4, 2).allowed);
  EXPECT_FALSE(take_token(b, 249, 4, 2).allowed);  // 0.996 of a token
  EXPECT_TRUE(take_token(b, 250, 4, 2).allowed);   // exactly one
  // A long idle spell fills it to the burst only.
  EXPECT_TRUE(take_token(b, 10'000'000'000, 4, 2).allowed);
  EXPECT_TRUE(take_token(b, 10'000'000'000, 4, 2).allowed);
  EXPECT_FALSE(take_token(b, 10'000'000'000, 4, 2).allowed);
}

TEST(token_bucket, a_clock_that_goes_back_refills_nothing) {
  auto b = full_bucket(1, 5000);
  EXPECT_TRUE(take_token(b, 5000, 1, 1).allowed);
  auto v = take_token(b, 1000, 1, 1);
  EXPECT_FALSE(v.allowed);
  EXPECT_EQ(v.retry_after_ms, 1000);
  EXPECT_EQ(b.last_ms, 5000);
}

TEST(token_bucket, a_bucket_refilled_to_the_burst_is_full_and_may_be_forgotten) {
  auto b = full_bucket(2, 0);
  EXPECT_TRUE(bucket_full_at(b, 0, 4, 2));
  EXPECT_TRUE(take_token(b, 0, 4, 2).allowed);
  EXPECT_FALSE(bucket_full_at(b, 0, 4, 2));
  EXPECT_FALSE(bucket_full_at(b, 249, 4, 2));  // 1.996 tokens
  EXPECT_TRUE(bucket_full_at(b, 250, 4, 2));   // 2: deciding with it or a fresh one is the same
  EXPECT_FALSE(bucket_full_at(b, -5, 4, 2));   // a clock that went back refills nothing
  EXPECT_TRUE(bucket_full_at(b, 10'000'000'000, 4, 2));
  // The same verdicts follow from the remembered bucket and from a forgotten (fresh) one.
  auto fresh = full_bucket(2, 250);
  take_token(b, 250, 4, 2);
  take_token(fresh, 250, 4, 2);
  EXPECT_EQ(b.milli_tokens, fresh.milli_tokens);
}

TEST(token_bucket, retry_after_is_whole_seconds_rounded_up) {
  struct row {
    std::int64_t ms;
    int s;
  };
  for (auto r : {row{0, 1}, row{1, 1}, row{999, 1}, row{1000, 1}, row{1001, 2}, row{5500, 6}})
    EXPECT_EQ(retry_after_seconds(r.ms), r.s) << r.ms;
}

}  // namespace
}  // namespace cartd
