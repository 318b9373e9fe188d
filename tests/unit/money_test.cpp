#include <gtest/gtest.h>

#include "domain/money.hpp"

namespace cartd {
namespace {

struct rounding_case {
  int128 num;
  int128 den;
  std::int64_t want;
};

TEST(money, rounds_half_away_from_zero) {
  const rounding_case cases[] = {
      {5, 10, 1},  {15, 10, 2},  {25, 10, 3},  {-5, 10, -1}, {-25, 10, -3}, {4, 10, 0},
      {-4, 10, 0}, {14, 10, 1},  {16, 10, 2},  {0, 7, 0},    {1, 3, 0},     {2, 3, 1},
      {-2, 3, -1}, {1999, 1, 1999},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(round_half_away(c.num, c.den), c.want)
        << static_cast<long long>(c.num) << "/" << static_cast<long long>(c.den);
  }
}

TEST(money, checked_arithmetic_refuses_overflow) {
  EXPECT_EQ(checked_mul(1999, 3), 5997);
  EXPECT_FALSE(checked_mul(max_amount, 2).has_value());
  EXPECT_FALSE(checked_add(max_amount, 1).has_value());
  EXPECT_EQ(checked_add(-5, 3), -2);
}

}  // namespace
}  // namespace cartd
