#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>

#include "domain/money.hpp"
#include "domain/price_engine.hpp"

namespace cartd {
namespace {

constexpr std::int64_t now = 1'800'000'000'000;

rate pct(const char* text) { return *parse_rate(text); }

priced_line line(const std::string& id, const std::string& product, std::int32_t q, std::int64_t price) {
  return priced_line{item_id{id}, product_id{product}, variant_id{"v"}, q, price};
}

discount percent_off(const std::string& id, const char* p, int priority = 0) {
  discount d;
  d.id = id;
  d.type = discount_type::percentage;
  d.percent = pct(p);
  d.automatic = true;
  d.priority = priority;
  return d;
}

discount fixed_off(const std::string& id, std::int64_t amount) {
  discount d;
  d.id = id;
  d.code = id;
  d.type = discount_type::fixed;
  d.amount = amount;
  d.currency = "USD";
  return d;
}

TEST(rate, parses_exact_decimal_text) {
  struct {
    const char* text;
    std::optional<std::int64_t> want;
  } cases[] = {{"8.875", 88750}, {"10", 100000}, {"0.0001", 1}, {"100", 1000000}, {"12.5", 125000},
               {"8.8.8", std::nullopt}, {"-1", std::nullopt}, {"1e3", std::nullopt},
               {"12.34567", std::nullopt}, {"", std::nullopt}, {"100.0001", std::nullopt},
               {".5", std::nullopt}, {"5.", std::nullopt}, {" 5", std::nullopt}};
  for (const auto& c : cases) {
    auto r = parse_rate(c.text);
    if (!c.want) {
      EXPECT_FALSE(r.has_value()) << c.text;
    } else {
      ASSERT_TRUE(r.has_value()) << c.text;
      EXPECT_EQ(r->ten_thousandths, *c.want) << c.text;
      EXPECT_EQ(format_rate(*r), std::string(c.text)) << c.text;
    }
  }
}

TEST(allocation, shares_sum_exactly_and_remainders_go_to_the_largest_fractions) {
  EXPECT_EQ(allocate(100, {1, 1, 1}), (std::vector<std::int64_t>{34, 33, 33}));
  EXPECT_EQ(allocate(10, {3, 3, 4}), (std::vector<std::int64_t>{3, 3, 4}));
  EXPECT_EQ(allocate(1, {5, 10}), (std::vector<std::int64_t>{0, 1}));   // tie on fraction: larger line
  EXPECT_EQ(allocate(2, {7, 7, 7}), (std::vector<std::int64_t>{1, 1, 0}));  // tie: earlier line
  EXPECT_EQ(allocate(0, {1, 2}), (std::vector<std::int64_t>{0, 0}));
}

TEST(pricing_engine, exclusive_tax_rounds_per_line) {
  pricing_request r{"USD", {line("a", "p", 1, 1999), line("b", "p", 3, 333)}, {}, {}, tax_rule{"US-CA", pct("8.875"), false}, {}, now};
  auto t = price(r).sums;
  // 1999 × 8.875 % = 177.41 → 177; 999 × 8.875 % = 88.66 → 89
  EXPECT_EQ(t.lines[0].tax, 177);
  EXPECT_EQ(t.lines[1].tax, 89);
  EXPECT_EQ(t.tax_total, 266);
  EXPECT_EQ(t.total, 1999 + 999 + 266);
}

TEST(pricing_engine, inclusive_tax_is_extracted_and_adds_nothing) {
  pricing_request r{"EUR", {line("a", "p", 1, 1190)}, {}, {}, tax_rule{"DE", pct("19"), true}, {}, now};
  auto t = price(r).sums;
  EXPECT_EQ(t.tax_total, 190);
  EXPECT_EQ(t.total, 1190);
}

TEST(pricing_engine, half_units_round_away_from_zero) {
  // 50 × 1 % = 0.5 → 1; 150 × 1 % = 1.5 → 2
  pricing_request r{"USD", {line("a", "p", 1, 50), line("b", "p", 1, 150)}, {}, {}, tax_rule{"X", pct("1"), false}, {}, now};
  auto t = price(r).sums;
  EXPECT_EQ(t.lines[0].tax, 1);
  EXPECT_EQ(t.lines[1].tax, 2);
}

TEST(pricing_engine, discounts_stack_each_on_what_is_left) {
  pricing_request r{"USD", {line("a", "p", 1, 10000)}, {percent_off("auto10", "10")}, {fixed_off("FIVE", 500)}, {}, {}, now};
  auto p = price(r);
  ASSERT_EQ(p.applied.size(), 2u);
  EXPECT_EQ(p.applied[0].amount, 1000);
  EXPECT_EQ(p.applied[1].amount, 500);
  EXPECT_EQ(p.sums.total, 8500);
  // Priority decides among automatic promotions: 50 % first, then 10 % of what is left.
  pricing_request r2{"USD", {line("a", "p", 1, 10000)}, {percent_off("ten", "10", 2), percent_off("half", "50", 1)}, {}, {}, {}, now};
  auto p2 = price(r2);
  EXPECT_EQ(p2.applied[0].id, "half");
  EXPECT_EQ(p2.applied[1].amount, 500);
}

TEST(pricing_engine, eligibility_windows_limits_products_and_minimums) {
  auto d = percent_off("d", "10");
  d.starts_at_ms = now + 1;
  pricing_request r{"USD", {line("a", "p", 1, 1000)}, {d}, {}, {}, {}, now};
  EXPECT_EQ(price(r).sums.discount_total, 0);
  d.starts_at_ms = now - 10;
  d.ends_at_ms = now;  // ends exactly now: over
  r.automatic = {d};
  EXPECT_EQ(price(r).sums.discount_total, 0);
  d.ends_at_ms.reset();
  d.usage_limit = 3;
  d.used = 3;
  r.automatic = {d};
  EXPECT_EQ(price(r).sums.discount_total, 0);
  d.usage_limit.reset();
  d.min_subtotal = 1001;
  r.automatic = {d};
  EXPECT_EQ(price(r).sums.discount_total, 0);
  d.min_subtotal = 0;
  d.product_ids = {product_id{"q"}};
  r.lines.push_back(line("b", "q", 1, 500));
  r.automatic = {d};
  auto p = price(r).sums;
  EXPECT_EQ(p.discount_total, 50);
  EXPECT_EQ(p.lines[0].discount, 0);
  EXPECT_EQ(p.lines[1].discount, 50);
}

TEST(pricing_engine, a_fixed_discount_never_exceeds_what_is_left_and_totals_stay_positive) {
  pricing_request r{"USD", {line("a", "p", 1, 300)}, {}, {fixed_off("BIG", 1000)}, {}, {}, now};
  auto p = price(r);
  EXPECT_EQ(p.sums.discount_total, 300);
  EXPECT_EQ(p.sums.total, 0);
  auto other = fixed_off("EUROS", 100);
  other.currency = "EUR";
  pricing_request r2{"USD", {line("a", "p", 1, 300)}, {}, {other}, {}, {}, now};
  EXPECT_TRUE(code_refusal(other, r2).has_value());
  EXPECT_EQ(price(r2).sums.discount_total, 0);
}

TEST(pricing_engine, a_retired_discount_is_refused_and_takes_nothing) {
  auto coded = fixed_off("GONE", 100);
  auto promo = percent_off("promo", "10");
  coded.active = false;
  promo.active = false;
  pricing_request r{"USD", {line("a", "p", 1, 1000)}, {promo}, {coded}, {}, {}, now};
  auto why = code_refusal(coded, r);
  ASSERT_TRUE(why.has_value());
  EXPECT_EQ(why->reason, "inactive");
  EXPECT_NE(why->message.find("no longer active"), std::string::npos);
  auto p = price(r);
  EXPECT_EQ(p.sums.discount_total, 0);
  EXPECT_TRUE(p.applied.empty());
  promo.active = true;
  r.automatic = {promo};
  EXPECT_EQ(price(r).sums.discount_total, 100);
}

TEST(pricing_engine, shipping_is_free_over_its_threshold_after_discounts) {
  shipping_method ship{"std", "Standard", 499, 5000};
  pricing_request r{"USD", {line("a", "p", 1, 5000)}, {}, {}, {}, ship, now};
  EXPECT_EQ(price(r).sums.shipping_total, 0);
  r.codes = {fixed_off("ONE", 1)};
  EXPECT_EQ(price(r).sums.shipping_total, 499);
  EXPECT_EQ(price(r).sums.total, 4999 + 499);
}

TEST(pricing_engine, properties_hold_over_thousands_of_random_carts) {
  std::mt19937_64 rng(20261124);
  auto pick = [&](std::int64_t lo, std::int64_t hi) {
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng);
  };
  const char* rates[] = {"0", "5", "7.25", "8.875", "19", "20", "0.0001", "33.3333"};
  for (int round = 0; round < 3000; ++round) {
    pricing_request r;
    r.currency = "USD";
    r.now_ms = now;
    int n = static_cast<int>(pick(1, 12));
    for (int i = 0; i < n; ++i)
      r.lines.push_back(line("i" + std::to_string(i), "p" + std::to_string(pick(0, 4)),
                             static_cast<std::int32_t>(pick(1, 50)), pick(0, 200000)));
    int nd = static_cast<int>(pick(0, 4));
    for (int k = 0; k < nd; ++k) {
      discount d = pick(0, 1) ? percent_off("a" + std::to_string(k), rates[pick(0, 7)], static_cast<int>(pick(0, 3)))
                              : fixed_off("f" + std::to_string(k), pick(1, 500000));
      if (pick(0, 2) == 0) d.product_ids = {product_id{"p" + std::to_string(pick(0, 4))}};
      d.created_seq = k;
      (d.automatic ? r.automatic : r.codes).push_back(d);
    }
    if (pick(0, 2)) r.tax = tax_rule{"X", pct(rates[pick(0, 7)]), pick(0, 1) == 1};
    if (pick(0, 1)) r.shipping = shipping_method{"s", "S", pick(0, 2000), pick(0, 1) ? std::optional<std::int64_t>(pick(0, 500000)) : std::nullopt};

    auto p = price(r);
    const auto& t = p.sums;
    std::int64_t disc = 0, tax = 0, sub = 0, applied = 0;
    for (const auto& l : t.lines) {
      disc += l.discount;
      tax += l.tax;
      sub += l.subtotal;
      ASSERT_GE(l.discount, 0);
      ASSERT_GE(l.tax, 0);
      ASSERT_LE(l.discount, l.subtotal);
      ASSERT_GE(l.total, 0);
    }
    for (const auto& a : p.applied) {
      ASSERT_GT(a.amount, 0);
      applied += a.amount;
    }
    ASSERT_EQ(disc, t.discount_total);
    ASSERT_EQ(applied, t.discount_total);
    ASSERT_EQ(tax, t.tax_total);
    ASSERT_EQ(sub, t.subtotal);
    bool exclusive = r.tax && !r.tax->inclusive;
    ASSERT_EQ(t.total, std::max<std::int64_t>(0, t.subtotal - t.discount_total + (exclusive ? t.tax_total : 0) + t.shipping_total));
    ASSERT_GE(t.total, 0);

    // The order lines were added in does not matter.
    auto shuffled = r;
    std::shuffle(shuffled.lines.begin(), shuffled.lines.end(), rng);
    auto q = price(shuffled).sums;
    ASSERT_EQ(q.total, t.total);
    ASSERT_EQ(q.discount_total, t.discount_total);
    ASSERT_EQ(q.tax_total, t.tax_total);
  }
}

}  // namespace
}  // namespace cartd
