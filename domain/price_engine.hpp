#pragma once
// The pricing engine of API.md, as pure functions over integer minor units: discounts
// (automatic by priority, then codes in the order added, each on what is left of its eligible
// lines, allocated so that line shares sum exactly), tax (exclusive or inclusive, per line),
// shipping (flat, free over a threshold). Rounding is round_half_away, once per amount.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "domain/errors.hpp"
#include "domain/ids.hpp"
#include "domain/pricing.hpp"
#include "domain/rate.hpp"

namespace cartd {

enum class discount_type { percentage, fixed };

struct discount {
  std::string id;
  std::string code;  ///< empty for an automatic promotion without a code
  std::string name;  ///< shown to shoppers; empty: none
  discount_type type = discount_type::percentage;
  rate percent;             ///< percentage
  std::int64_t amount = 0;  ///< fixed, in minor units of `currency`
  std::string currency;     ///< fixed only
  bool automatic = false;
  bool active = true;  ///< false: retired (kept for its history, never applied)
  std::int32_t priority = 0;
  std::int64_t min_subtotal = 0;
  std::vector<product_id> product_ids;  ///< empty: every line
  std::optional<std::int64_t> starts_at_ms;
  std::optional<std::int64_t> ends_at_ms;
  std::optional<std::int64_t> usage_limit;
  std::int64_t used = 0;
  std::int64_t created_seq = 0;  ///< equal priorities apply in order of creation
};

struct tax_rule {
  std::string region;
  rate percent;
  bool inclusive = false;
};

struct shipping_method {
  std::string id;
  std::string name;
  std::int64_t price = 0;
  std::optional<std::int64_t> free_over;
  std::string currency;  ///< of price and freeOver; empty: carts of any currency
};

/// Every rule a node prices with (decoded from the store by persistence/pricing_codec.cpp).
struct pricing_rules {
  std::vector<discount> discounts;  ///< every discount, automatic or with a code
  std::map<std::string, tax_rule> taxes;
  std::map<std::string, shipping_method> shipping;
};

struct priced_line {
  item_id item;
  product_id product;
  variant_id variant;
  std::int32_t quantity = 0;
  std::int64_t unit_price = 0;
};

struct pricing_request {
  std::string currency;
  std::vector<priced_line> lines;
  std::vector<discount> automatic;  ///< every automatic promotion (eligibility checked here)
  std::vector<discount> codes;      ///< the discounts of the codes, in the order added
  std::optional<tax_rule> tax;
  std::optional<shipping_method> shipping;
  std::int64_t now_ms = 0;
};

struct applied_discount {
  std::string id;
  std::string code;
  std::int64_t amount = 0;
  std::string name;  ///< empty: none
  discount_type type = discount_type::percentage;
};
const char* to_string(discount_type t);

struct priced_totals {
  totals sums;  ///< with per-line discount, tax and total filled in
  std::vector<applied_discount> applied;
  std::optional<rate> tax_rate;
  bool tax_inclusive = false;  ///< the tax is inside the prices (and inside `total`)
};

/// Why a code cannot apply to this cart now (reason `not_started`, `expired`, `inactive`,
/// `used_up`, `currency`, `min_subtotal` or `no_eligible_item`), or nothing when it can.
std::optional<code_problem> code_refusal(const discount& d, const pricing_request& r);
/// Prices the request. Codes that do not apply take nothing (callers refuse them first).
priced_totals price(const pricing_request& r);

/// Splits `amount` over `weights` in proportion: floors, then the minor units left over one
/// each to the largest fractional remainders (ties: the larger weight, then the earlier one).
std::vector<std::int64_t> allocate(std::int64_t amount, const std::vector<std::int64_t>& weights);

}  // namespace cartd
