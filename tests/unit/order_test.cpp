// The order state machine of API.md, Orders: every from → to pair, PATCH and DELETE decisions,
// payment statuses and the order number.
#include "domain/order.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace cartd {
namespace {

using os = order_status;
using tr = transition_result;

constexpr os all_statuses[] = {os::paid, os::fulfilled, os::shipped, os::delivered, os::cancelled};

TEST(order, status_words_round_trip_and_nothing_else_parses) {
  for (os s : all_statuses) EXPECT_EQ(parse_order_status(to_string(s)), s) << to_string(s);
  EXPECT_STREQ(to_string(os::cancelled), "cancelled");
  for (const char* bad : {"", "Paid", "PAID", "canceled", " paid", "paid ", "open"})
    EXPECT_FALSE(parse_order_status(bad).has_value()) << '"' << bad << '"';
}

struct transition_row {
  os from;
  os to;
  tr want;
};

// Every pair, spelled out so that a changed rule shows up as a changed row.
constexpr transition_row transitions[] = {
    {os::paid, os::paid, tr::no_change},           {os::paid, os::fulfilled, tr::apply},
    {os::paid, os::shipped, tr::invalid},          {os::paid, os::delivered, tr::invalid},
    {os::paid, os::cancelled, tr::apply},          {os::fulfilled, os::paid, tr::invalid},
    {os::fulfilled, os::fulfilled, tr::no_change}, {os::fulfilled, os::shipped, tr::apply},
    {os::fulfilled, os::delivered, tr::invalid},   {os::fulfilled, os::cancelled, tr::apply},
    {os::shipped, os::paid, tr::invalid},          {os::shipped, os::fulfilled, tr::invalid},
    {os::shipped, os::shipped, tr::no_change},     {os::shipped, os::delivered, tr::apply},
    {os::shipped, os::cancelled, tr::invalid},     {os::delivered, os::paid, tr::invalid},
    {os::delivered, os::fulfilled, tr::invalid},   {os::delivered, os::shipped, tr::invalid},
    {os::delivered, os::delivered, tr::no_change}, {os::delivered, os::cancelled, tr::invalid},
    {os::cancelled, os::paid, tr::invalid},        {os::cancelled, os::fulfilled, tr::invalid},
    {os::cancelled, os::shipped, tr::invalid},     {os::cancelled, os::delivered, tr::invalid},
    {os::cancelled, os::cancelled, tr::no_change},
};

TEST(order, the_table_covers_every_pair_once) {
  std::set<std::pair<os, os>> seen;
  for (const auto& r : transitions) EXPECT_TRUE(seen.insert({r.from, r.to}).second);
  EXPECT_EQ(seen.size(), 25u);
}

TEST(order, patch_applies_only_the_edges_of_the_api_and_repeats_are_no_ops) {
  for (const auto& r : transitions) {
    SCOPED_TRACE(std::string(to_string(r.from)) + " -> " + to_string(r.to));
    EXPECT_EQ(decide_transition(r.from, r.to), r.want);
    EXPECT_EQ(can_transition(r.from, r.to), r.want == tr::apply);
  }
}

TEST(order, delete_cancels_once_returns_a_cancelled_order_again_and_refuses_after_shipping) {
  struct row {
    os from;
    cancel_decision want;
  };
  const row rows[] = {
      {os::paid, cancel_decision::cancel},
      {os::fulfilled, cancel_decision::cancel},
      {os::shipped, cancel_decision::invalid},
      {os::delivered, cancel_decision::invalid},
      {os::cancelled, cancel_decision::already_cancelled},
  };
  for (const auto& r : rows) EXPECT_EQ(decide_cancel(r.from), r.want) << to_string(r.from);
}

TEST(order, payment_words_round_trip_and_nothing_else_parses) {
  for (auto s : {payment_status::authorized, payment_status::captured, payment_status::voided,
                 payment_status::refunded})
    EXPECT_EQ(parse_payment_status(to_string(s)), s) << to_string(s);
  for (const char* bad : {"", "declined", "pending", "Captured"})
    EXPECT_FALSE(parse_payment_status(bad).has_value()) << bad;
}

TEST(order, cancelling_voids_an_authorization_refunds_a_capture_and_pays_back_once) {
  EXPECT_EQ(payment_on_cancel(payment_status::authorized), payment_undo::void_payment);
  EXPECT_EQ(payment_on_cancel(payment_status::captured), payment_undo::refund_payment);
  EXPECT_EQ(payment_on_cancel(payment_status::voided), payment_undo::nothing);
  EXPECT_EQ(payment_on_cancel(payment_status::refunded), payment_undo::nothing);
}

TEST(order, number_is_the_utc_date_and_eight_crockford_chars) {
  struct row {
    std::int64_t now_ms;
    std::uint64_t bits;
    const char* want;
  };
  const row rows[] = {
      {1796256000000, 0xf325137, "CD-20261203-007K4M9Q"},            // 2026-12-03T00:00:00Z
      {1796342399999, 0xf325137, "CD-20261203-007K4M9Q"},            // its last millisecond
      {1709208000000, 0, "CD-20240229-00000000"},                    // a leap day
      {951868800000, 0xffffffffff, "CD-20000301-ZZZZZZZZ"},          // after a century leap day
      {-1, 0xffffffffff, "CD-19691231-ZZZZZZZZ"},                    // before the epoch rounds down
      {1796256000000, 0xffffff0000000000, "CD-20261203-00000000"},   // only the low 40 bits count
      {1796256000000, 0x8000000000, "CD-20261203-G0000000"},         // the 40th bit leads
  };
  for (const auto& r : rows) EXPECT_EQ(order_number(r.now_ms, r.bits), r.want) << r.now_ms;
}

TEST(order, number_avoids_letters_that_read_as_digits) {
  for (std::uint64_t bits = 0; bits < 32; ++bits) {
    // Every symbol once, in the last place.
    const std::string n = order_number(0, bits);
    ASSERT_EQ(n.size(), 20u);
    EXPECT_EQ(n.find_first_of("ILOU"), std::string::npos) << n;
    EXPECT_EQ(n.find_first_of("abcdefghijklmnopqrstuvwxyz"), std::string::npos) << n;
  }
  std::set<std::string> distinct;
  for (std::uint64_t bits = 0; bits < 1024; ++bits) distinct.insert(order_number(0, bits * 977));
  EXPECT_EQ(distinct.size(), 1024u);  // distinct bits below 2^30, distinct numbers
}

}  // namespace
}  // namespace cartd
