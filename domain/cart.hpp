#pragma once
// The cart: state and its transitions, as pure functions. actors/cart_actor.cpp calls these for
// every decision and persists the result before it answers.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "domain/errors.hpp"
#include "domain/identity.hpp"
#include "domain/ids.hpp"

namespace cartd {

enum class cart_status { active, checked_out, merged, deleted };
const char* to_string(cart_status s);
std::optional<cart_status> cart_status_from(const std::string& s);

/// A variant's options ({"size": "M", …}), in the order given; at most 8 pairs.
using variant_options = std::vector<std::pair<std::string, std::string>>;

struct cart_item {
  item_id id;
  product_id product;
  variant_id variant;
  std::string name;
  std::int32_t quantity = 0;
  std::int64_t unit_price = 0;
  std::int64_t added_at_ms = 0;
  std::string variant_name;  ///< empty: none
  variant_options options;
};

struct cart {
  cart_id id;
  std::string user_id;     ///< empty: none
  std::string session_id;  ///< empty: none
  cart_status status = cart_status::active;
  std::string currency = "USD";
  std::string region;  ///< empty: none
  std::vector<std::string> discount_codes;
  std::string shipping_method;  ///< empty: none
  std::string metadata_json;    ///< raw JSON object as the client sent it; empty: none
  std::vector<cart_item> items;
  std::uint64_t version = 0;  ///< 0: never stored
  std::int64_t created_at_ms = 0;
  std::int64_t updated_at_ms = 0;
  std::string merged_into;  ///< the cart this one was merged into; empty: none
};

struct cart_limits {
  std::int32_t max_quantity_per_line = 999;
  std::int32_t max_lines = 100;
};

/// What the catalog says about one variant at the moment of a change.
struct variant_offer {
  product_id product;
  variant_id variant;
  std::string name;
  std::string currency;
  bool active = false;
  std::int64_t price = 0;
  std::int64_t available = 0;  ///< on hand minus reserved
  std::string variant_name;    ///< empty: none
  variant_options options;
};

/// How a cart line stands against the catalog now (API.md v1.1 `status`).
enum class line_status { ok, price_changed, unavailable };
const char* to_string(line_status s);
struct line_state {
  line_status status = line_status::ok;
  std::int64_t current_price = 0;  ///< the catalog price now (price_changed)
};
/// `offer`: the line's variant as the catalog offers it now; nothing when it is gone.
line_state state_of(const cart_item& line, const std::optional<variant_offer>& offer);

/// Why a discount code cannot apply: a reason of API.md (`unknown`, `expired`, …) and a message.
struct code_problem {
  std::string reason;
  std::string message;
};

struct cart_patch {
  std::optional<std::string> region;  ///< "" clears
  std::optional<std::vector<std::string>> discount_codes;
  std::optional<std::string> shipping_method;  ///< "" clears
  std::optional<std::string> metadata_json;    ///< "" clears
};

enum class merge_strategy { sum, max, replace };
std::optional<merge_strategy> merge_strategy_from(const std::string& s);

struct merged_carts {
  cart target;
  cart source;
};

/// Only the owner (its user or its guest session) or an admin may see a cart.
bool can_access(const cart& c, const principal& who);
/// `If-Match` check: nothing to check, or the version the client saw.
std::optional<domain_error> check_version(const cart& c, std::optional<std::uint64_t> if_match);

cart new_cart(cart_id id, const principal& owner, std::string currency, std::string region,
              std::int64_t now_ms);
result<cart> add_item(const cart& c, const variant_offer& offer, std::int32_t quantity,
                      const cart_limits& limits, item_id new_line_id, std::int64_t now_ms);
/// quantity 0 removes the line; `offer` is required when quantity > 0.
result<cart> set_item_quantity(const cart& c, const item_id& line, std::int32_t quantity,
                               const std::optional<variant_offer>& offer,
                               const cart_limits& limits, std::int64_t now_ms);
result<cart> remove_item(const cart& c, const item_id& line, std::int64_t now_ms);
/// Why a discount code cannot apply to a cart (unknown, expired, …), or nothing when it can.
using code_check = std::function<std::optional<code_problem>(const std::string&, const cart&)>;
/// True when two codes are the same code (codes compare case-insensitively).
bool same_code(const std::string& a, const std::string& b);
/// Sum of the quantities.
std::int64_t item_count(const cart& c);
/// Why shipping method `id` cannot serve `c` (unknown, another currency), or nothing when it can.
using shipping_check = std::function<std::optional<std::string>(const std::string& id, const cart& c)>;
result<cart> patch_cart(const cart& c, const cart_patch& patch, const code_check& refuse_code,
                        const shipping_check& known_shipping, std::int64_t now_ms);
result<cart> delete_cart(const cart& c, std::int64_t now_ms);
/// Atomic merge of `source` into `target`; both change or neither (the caller persists both).
/// The target keeps its region and shipping method (takes the source's when it has none) and
/// gains each of the source's codes it lacks while `refuse_code` finds it applies.
result<merged_carts> merge_carts(const cart& target, const cart& source, merge_strategy strategy,
                                 const cart_limits& limits, const code_check& refuse_code,
                                 std::int64_t now_ms);

const cart_item* find_item(const cart& c, const item_id& line);

}  // namespace cartd
