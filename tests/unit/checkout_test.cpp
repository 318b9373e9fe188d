// Checkout values: what an order takes from its session, who may see them, and when a session
// can still be paid.
#include "domain/checkout.hpp"

#include <gtest/gtest.h>

namespace cartd {
namespace {

checkout_session session() {
  checkout_session s;
  s.id = "s1";
  s.cart = cart_id{"c1"};
  s.user_id = "alice";
  s.lines = {{item_id{"i1"}, product_id{"p"}, variant_id{"b"}, "Tee", 2, 500},
             {item_id{"i2"}, product_id{"p"}, variant_id{"a"}, "Tee", 1, 700},
             {item_id{"i3"}, product_id{"p"}, variant_id{"b"}, "Tee", 3, 500}};
  s.totals = money_totals{"USD", 3200, 200, 0, 0, 3000};
  s.expires_at_ms = 10'000;
  return s;
}

TEST(checkout, lines_of_one_variant_reserve_together_in_one_sorted_order) {
  auto q = quantities_by_variant(session().lines);
  ASSERT_EQ(q.size(), 2u);
  EXPECT_EQ(q[0].first.second.value, "a");
  EXPECT_EQ(q[0].second, 1);
  EXPECT_EQ(q[1].first.second.value, "b");
  EXPECT_EQ(q[1].second, 5);
}

TEST(checkout, a_session_is_processable_until_it_expires) {
  auto s = session();
  EXPECT_FALSE(check_processable(s, 9'999));
  EXPECT_EQ(check_processable(s, 10'000)->code, error_code::session_expired);
  s.status = checkout_status::expired;
  EXPECT_EQ(check_processable(s, 0)->code, error_code::session_expired);
}

TEST(checkout, the_order_takes_the_locked_lines_and_totals) {
  auto o = order_of(session(), "o1", "CD-1", order_payment{"simulated", "pay", payment_status::authorized, 3000},
                    42);
  EXPECT_EQ(o.status, order_status::paid);
  EXPECT_EQ(o.totals.total, 3000);
  EXPECT_EQ(o.payment.amount, o.totals.total);
  ASSERT_EQ(o.items.size(), 3u);
  EXPECT_EQ(o.items[0].total_price, 1000);
  ASSERT_EQ(o.history.size(), 1u);
  EXPECT_EQ(o.history[0].at_ms, 42);
  auto shipped = with_status(with_status(o, order_status::fulfilled, 50), order_status::shipped, 60);
  EXPECT_EQ(shipped.history.size(), 3u);
  EXPECT_EQ(shipped.updated_at_ms, 60);
}

TEST(checkout, only_owners_and_admins_see_sessions_and_orders) {
  auto s = session();
  principal alice{"alice", "", false}, bob{"bob", "", false}, admin{"root", "", true};
  EXPECT_TRUE(can_access(s, alice));
  EXPECT_FALSE(can_access(s, bob));
  EXPECT_TRUE(can_access(s, admin));
  s.user_id.clear();
  s.session_id = "guest";
  EXPECT_TRUE(can_access(s, principal{"", "guest", false}));
  EXPECT_FALSE(can_access(s, principal{"", "", false}));
}

TEST(checkout, statuses_read_back) {
  for (auto st : {checkout_status::open, checkout_status::processing, checkout_status::completed,
                  checkout_status::expired})
    EXPECT_EQ(parse_checkout_status(to_string(st)), st);
  EXPECT_FALSE(parse_checkout_status("closed"));
}

}  // namespace
}  // namespace cartd
