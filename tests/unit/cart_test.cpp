#include <gtest/gtest.h>

#include "domain/cart.hpp"
#include "domain/pricing.hpp"

namespace cartd {
namespace {

constexpr std::int64_t t0 = 1700000000000;

principal user(const std::string& id) { return principal{id, "", false}; }

variant_offer offer(const std::string& v, std::int64_t price, std::int64_t available = 10000) {
  return variant_offer{product_id{"tee"}, variant_id{v}, "Tee", "USD", true, price, available};
}

cart fresh() { return new_cart(cart_id{"c1"}, user("alice"), "USD", "", t0); }

cart with_line(const std::string& v, std::int32_t q, std::int64_t price = 1999) {
  auto r = add_item(fresh(), offer(v, price), q, cart_limits{}, item_id{"i-" + v}, t0 + 1);
  EXPECT_TRUE(r.ok());
  return r.value();
}

TEST(cart, new_cart_starts_at_version_one_owned_by_its_creator) {
  auto c = fresh();
  EXPECT_EQ(c.version, 1u);
  EXPECT_TRUE(can_access(c, user("alice")));
  EXPECT_FALSE(can_access(c, user("bob")));
  EXPECT_TRUE(can_access(c, principal{"bob", "", true}));
}

TEST(cart, adding_the_same_variant_merges_into_one_line_at_the_current_price) {
  auto c = with_line("red", 2);
  auto r = add_item(c, offer("red", 2099), 3, cart_limits{}, item_id{"other"}, t0 + 2);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->items.size(), 1u);
  EXPECT_EQ(r->items[0].quantity, 5);
  EXPECT_EQ(r->items[0].unit_price, 2099);
  EXPECT_EQ(r->version, c.version + 1);
}

TEST(cart, refuses_a_line_over_the_per_line_maximum) {
  auto c = with_line("red", 998);
  auto r = add_item(c, offer("red", 1999, 10000), 2, cart_limits{}, item_id{"x"}, t0);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, error_code::validation_failed);
  EXPECT_FALSE(r.error().errors.empty());
}

TEST(cart, refuses_more_lines_than_the_limit) {
  cart_limits limits{999, 2};
  auto c = fresh();
  c = *add_item(c, offer("a", 1), 1, limits, item_id{"1"}, t0);
  c = *add_item(c, offer("b", 1), 1, limits, item_id{"2"}, t0);
  auto r = add_item(c, offer("c", 1), 1, limits, item_id{"3"}, t0);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, error_code::cart_limit_exceeded);
}

TEST(cart, checks_stock_against_the_whole_line) {
  auto c = with_line("red", 3);
  auto r = add_item(c, offer("red", 1999, 4), 2, cart_limits{}, item_id{"x"}, t0);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, error_code::insufficient_stock);
}

TEST(cart, refuses_inactive_products_and_foreign_currencies) {
  auto inactive = offer("red", 1999);
  inactive.active = false;
  EXPECT_EQ(add_item(fresh(), inactive, 1, {}, item_id{"x"}, t0).error().code,
            error_code::unknown_product);
  auto euro = offer("red", 1999);
  euro.currency = "EUR";
  EXPECT_EQ(add_item(fresh(), euro, 1, {}, item_id{"x"}, t0).error().code,
            error_code::currency_mismatch);
}

TEST(cart, quantity_zero_removes_the_line) {
  auto c = with_line("red", 2);
  auto r = set_item_quantity(c, item_id{"i-red"}, 0, std::nullopt, {}, t0);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->items.empty());
}

TEST(cart, unknown_item_is_not_found) {
  auto r = remove_item(fresh(), item_id{"nope"}, t0);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, error_code::not_found);
}

TEST(cart, a_cart_that_is_not_active_refuses_changes) {
  auto c = fresh();
  c.status = cart_status::merged;
  EXPECT_EQ(add_item(c, offer("red", 1), 1, {}, item_id{"x"}, t0).error().code,
            error_code::cart_not_active);
  EXPECT_EQ(patch_cart(c, cart_patch{}, nullptr, nullptr, t0).error().code, error_code::cart_not_active);
}

TEST(cart, if_match_must_equal_the_version) {
  auto c = with_line("red", 1);
  EXPECT_FALSE(check_version(c, std::nullopt).has_value());
  EXPECT_FALSE(check_version(c, c.version).has_value());
  EXPECT_EQ(check_version(c, c.version - 1)->code, error_code::version_mismatch);
}

TEST(cart, discount_codes_are_checked_and_kept_once_each) {
  code_check only_save10 = [](const std::string& code, const cart&) -> std::optional<code_problem> {
    if (code == "SAVE10" || code == "save10") return std::nullopt;
    return code_problem{"unknown", "unknown discount code " + code};
  };
  shipping_check none = [](const std::string& id, const cart&) -> std::optional<std::string> {
    return "no shipping method " + id;
  };
  cart_patch p;
  p.discount_codes = std::vector<std::string>{"NOPE"};
  auto refused = patch_cart(fresh(), p, only_save10, none, t0);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, error_code::invalid_discount_code);
  EXPECT_NE(refused.error().detail.find("NOPE"), std::string::npos);
  ASSERT_EQ(refused.error().errors.size(), 1u);
  EXPECT_EQ(refused.error().errors[0].field, "discountCodes[0]");
  EXPECT_EQ(refused.error().errors[0].reason, "unknown");
  p.discount_codes = std::vector<std::string>{"SAVE10", "save10"};
  auto kept = patch_cart(fresh(), p, only_save10, none, t0);
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept->discount_codes, std::vector<std::string>{"SAVE10"});
  cart_patch ship;
  ship.shipping_method = "teleport";
  EXPECT_EQ(patch_cart(fresh(), ship, only_save10, none, t0).error().code, error_code::validation_failed);
  // A code the cart holds is kept when a PATCH repeats it, whatever it does now; a repeat
  // of what the cart holds changes nothing (same version).
  auto holding = fresh();
  holding.discount_codes = {"OLD"};
  cart_patch repeat;
  repeat.discount_codes = std::vector<std::string>{"old"};
  auto same = patch_cart(holding, repeat, only_save10, none, t0 + 1);
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(same->discount_codes, std::vector<std::string>{"old"});
  repeat.discount_codes = std::vector<std::string>{"OLD"};
  auto unchanged = patch_cart(holding, repeat, only_save10, none, t0 + 1);
  ASSERT_TRUE(unchanged.ok());
  EXPECT_EQ(unchanged->version, holding.version);
  // Every refused code is named, with its index.
  repeat.discount_codes = std::vector<std::string>{"OLD", "X", "SAVE10", "Y"};
  auto two = patch_cart(holding, repeat, only_save10, none, t0 + 1);
  ASSERT_FALSE(two.ok());
  ASSERT_EQ(two.error().errors.size(), 2u);
  EXPECT_EQ(two.error().errors[0].field, "discountCodes[1]");
  EXPECT_EQ(two.error().errors[1].field, "discountCodes[3]");
}

TEST(cart, lowering_a_line_is_never_refused_for_stock_and_the_same_quantity_changes_nothing) {
  auto c = with_line("red", 5);
  auto line = c.items[0].id;
  auto scarce = offer("red", 2500, 1);  // price changed, 1 left
  auto lowered = set_item_quantity(c, line, 4, scarce, {}, t0 + 1);
  ASSERT_TRUE(lowered.ok());
  EXPECT_EQ(lowered->items[0].quantity, 4);
  auto raised = set_item_quantity(*lowered, line, 5, scarce, {}, t0 + 2);
  ASSERT_FALSE(raised.ok());
  EXPECT_EQ(raised.error().code, error_code::insufficient_stock);
  ASSERT_EQ(raised.error().shortfalls.size(), 1u);
  EXPECT_EQ(raised.error().shortfalls[0].requested, 5);
  EXPECT_EQ(raised.error().shortfalls[0].available, 1);
  auto same = set_item_quantity(c, line, 5, scarce, {}, t0 + 3);
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(same->version, c.version);
  EXPECT_EQ(same->items[0].unit_price, c.items[0].unit_price);
}

TEST(cart, line_states_tell_price_changes_and_unavailable_lines) {
  auto c = with_line("red", 1, 1999);
  EXPECT_EQ(state_of(c.items[0], offer("red", 1999)).status, line_status::ok);
  auto changed = state_of(c.items[0], offer("red", 2100));
  EXPECT_EQ(changed.status, line_status::price_changed);
  EXPECT_EQ(changed.current_price, 2100);
  EXPECT_EQ(state_of(c.items[0], std::nullopt).status, line_status::unavailable);
  auto inactive = offer("red", 1999);
  inactive.active = false;
  EXPECT_EQ(state_of(c.items[0], inactive).status, line_status::unavailable);
}

struct merge_case {
  merge_strategy strategy;
  std::int32_t target_qty;
  std::int32_t source_qty;
  std::int32_t want;
};

TEST(cart, merge_strategies_combine_matching_lines) {
  const merge_case cases[] = {
      {merge_strategy::sum, 2, 3, 5},     {merge_strategy::max, 2, 3, 3},
      {merge_strategy::max, 4, 3, 4},     {merge_strategy::replace, 4, 3, 3},
      {merge_strategy::sum, 900, 200, 999},  // capped at the per-line maximum
  };
  for (const auto& mc : cases) {
    auto target = with_line("red", mc.target_qty);
    auto source = new_cart(cart_id{"c2"}, principal{"", "s1", false}, "USD", "", t0);
    source = *add_item(source, offer("red", 1999, 10000), mc.source_qty, {}, item_id{"s-red"}, t0);
    source = *add_item(source, offer("blue", 500), 1, {}, item_id{"s-blue"}, t0);
    code_check any = [](const std::string&, const cart&) -> std::optional<code_problem> {
      return std::nullopt;
    };
    auto r = merge_carts(target, source, mc.strategy, cart_limits{}, any, t0 + 5);
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r->target.items.size(), 2u);
    EXPECT_EQ(r->target.items[0].quantity, mc.want);
    EXPECT_EQ(r->target.items[1].variant.value, "blue");
    EXPECT_EQ(r->source.status, cart_status::merged);
    EXPECT_EQ(r->source.version, source.version + 1);
    EXPECT_EQ(r->target.version, target.version + 1);
  }
}

TEST(cart, merging_a_cart_that_is_not_active_is_refused) {
  auto source = fresh();
  source.id = cart_id{"c2"};
  source.status = cart_status::checked_out;
  code_check any = [](const std::string&, const cart&) -> std::optional<code_problem> {
    return std::nullopt;
  };
  auto r = merge_carts(with_line("red", 1), source, merge_strategy::sum, {}, any, t0);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, error_code::cart_not_active);
}

TEST(cart, a_merge_keeps_the_targets_settings_and_adds_codes_that_apply) {
  code_check only_good = [](const std::string& code, const cart&) -> std::optional<code_problem> {
    if (code == "GOOD") return std::nullopt;
    return code_problem{"expired", "expired"};
  };
  auto target = with_line("red", 1);
  auto source = new_cart(cart_id{"c2"}, principal{"", "s1", false}, "USD", "US-CA", t0);
  source.shipping_method = "std";
  source.discount_codes = {"GOOD", "STALE"};
  auto r = merge_carts(target, source, merge_strategy::sum, {}, only_good, t0 + 1);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->target.region, "US-CA");  // the target had none
  EXPECT_EQ(r->target.shipping_method, "std");
  EXPECT_EQ(r->target.discount_codes, std::vector<std::string>{"GOOD"});
  EXPECT_EQ(r->source.merged_into, target.id.value);
  auto eur = new_cart(cart_id{"c3"}, principal{"", "s1", false}, "EUR", "", t0);
  EXPECT_EQ(merge_carts(target, eur, merge_strategy::sum, {}, only_good, t0).error().code,
            error_code::currency_mismatch);
  EXPECT_EQ(merge_carts(target, target, merge_strategy::sum, {}, only_good, t0).error().code,
            error_code::validation_failed);
}

TEST(pricing, totals_are_integer_sums_of_lines) {
  auto c = with_line("red", 3, 1999);
  c = *add_item(c, offer("blue", 1), 7, {}, item_id{"i-blue"}, t0);
  auto t = compute_totals(c);
  EXPECT_EQ(t.subtotal, 3 * 1999 + 7);
  EXPECT_EQ(t.total, t.subtotal);
  ASSERT_EQ(t.lines.size(), 2u);
  EXPECT_EQ(t.lines[0].subtotal, 5997);
  EXPECT_EQ(t.discount_total + t.tax_total + t.shipping_total, 0);
}

}  // namespace
}  // namespace cartd
