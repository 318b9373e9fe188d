// The payment provider's circuit breaker: a pure state machine, time injected.
#include "domain/circuit_breaker.hpp"

#include <gtest/gtest.h>

namespace cartd {
namespace {

constexpr std::int64_t t0 = 1'000'000;
constexpr breaker_settings three_then_10s{3, 10'000};

// Opens a fresh breaker at `at`: three failures in a row.
circuit_breaker opened_at(std::int64_t at) {
  circuit_breaker b{three_then_10s};
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(b.allow(at));
    b.on_failure(at);
  }
  EXPECT_EQ(b.state(at), breaker_state::open);
  return b;
}

TEST(circuit_breaker, names_its_states_as_health_reports_them) {
  EXPECT_STREQ(to_string(breaker_state::closed), "closed");
  EXPECT_STREQ(to_string(breaker_state::open), "open");
  EXPECT_STREQ(to_string(breaker_state::half_open), "half_open");
}

TEST(circuit_breaker, stays_closed_under_fewer_failures_than_the_threshold) {
  circuit_breaker b{three_then_10s};
  b.on_failure(t0);
  b.on_failure(t0 + 1);
  EXPECT_EQ(b.state(t0 + 1), breaker_state::closed);
  EXPECT_TRUE(b.allow(t0 + 1));
  EXPECT_EQ(b.consecutive_failures(), 2);
  EXPECT_EQ(b.times_opened(), 0);
  EXPECT_EQ(b.retry_after_ms(t0 + 1), 0);
}

TEST(circuit_breaker, a_success_resets_the_count_of_consecutive_failures) {
  circuit_breaker b{three_then_10s};
  b.on_failure(t0);
  b.on_failure(t0);
  b.on_success(t0);
  EXPECT_EQ(b.consecutive_failures(), 0);
  b.on_failure(t0);
  b.on_failure(t0);
  EXPECT_EQ(b.state(t0), breaker_state::closed);  // 2 + 2 failures, never 3 in a row
}

TEST(circuit_breaker, opens_at_the_threshold_and_refuses_while_open) {
  auto b = opened_at(t0);
  EXPECT_EQ(b.times_opened(), 1);
  EXPECT_EQ(b.consecutive_failures(), 3);
  for (std::int64_t at : {t0, t0 + 1, t0 + 9'999}) {
    EXPECT_FALSE(b.allow(at)) << at;
    EXPECT_EQ(b.state(at), breaker_state::open) << at;
  }
}

TEST(circuit_breaker, a_threshold_below_one_opens_at_the_first_failure) {
  circuit_breaker b{breaker_settings{0, 100}};
  b.on_failure(t0);
  EXPECT_EQ(b.state(t0), breaker_state::open);
}

TEST(circuit_breaker, retry_after_is_the_time_left_in_the_cooldown) {
  auto b = opened_at(t0);
  struct row {
    std::int64_t at;
    std::int64_t want;
  };
  const row rows[] = {
      {t0, 10'000},     {t0 + 2'500, 7'500},  {t0 + 10'000, 0},
      {t0 + 60'000, 0}, {t0 - 5'000, 10'000},  // a clock read that went back promises no more than
                                               // a cooldown
  };
  for (const auto& r : rows) EXPECT_EQ(b.retry_after_ms(r.at), r.want) << r.at;
}

TEST(circuit_breaker, after_the_cooldown_reads_half_open_and_lets_exactly_one_trial_through) {
  auto b = opened_at(t0);
  const std::int64_t later = t0 + 10'000;
  EXPECT_EQ(b.state(later), breaker_state::half_open);
  EXPECT_TRUE(b.allow(later));
  EXPECT_EQ(b.state(later), breaker_state::half_open);
  EXPECT_FALSE(b.allow(later));  // the trial is still out
  EXPECT_FALSE(b.allow(later + 50'000));
  EXPECT_EQ(b.retry_after_ms(later), 0);
}

TEST(circuit_breaker, a_successful_trial_closes_it) {
  auto b = opened_at(t0);
  ASSERT_TRUE(b.allow(t0 + 10'000));
  b.on_success(t0 + 10'100);
  EXPECT_EQ(b.state(t0 + 10'100), breaker_state::closed);
  EXPECT_EQ(b.consecutive_failures(), 0);
  EXPECT_TRUE(b.allow(t0 + 10'100));
  EXPECT_TRUE(b.allow(t0 + 10'100));
  b.on_failure(t0 + 10'200);  // counting starts afresh
  EXPECT_EQ(b.state(t0 + 10'200), breaker_state::closed);
}

TEST(circuit_breaker, a_failed_trial_opens_it_again_with_a_fresh_cooldown) {
  auto b = opened_at(t0);
  const std::int64_t trial = t0 + 12'000;
  ASSERT_TRUE(b.allow(trial));
  b.on_failure(trial + 500);
  EXPECT_EQ(b.times_opened(), 2);
  EXPECT_EQ(b.state(trial + 500), breaker_state::open);
  EXPECT_EQ(b.retry_after_ms(trial + 500), 10'000);  // counted from the failure, not the trial
  EXPECT_FALSE(b.allow(trial + 10'499));
  EXPECT_TRUE(b.allow(trial + 10'500));
  EXPECT_FALSE(b.allow(trial + 10'500));
}

TEST(circuit_breaker, stragglers_from_before_it_opened_neither_close_nor_stretch_it) {
  auto b = opened_at(t0);
  b.on_success(t0 + 100);  // a call let through while it was still closed
  EXPECT_EQ(b.state(t0 + 100), breaker_state::open);
  b.on_failure(t0 + 5'000);
  EXPECT_EQ(b.retry_after_ms(t0 + 5'000), 5'000);
  EXPECT_EQ(b.times_opened(), 1);
  EXPECT_TRUE(b.allow(t0 + 10'000));
}

}  // namespace
}  // namespace cartd
