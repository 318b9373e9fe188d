#pragma once
// Checkout sessions and orders as values: what a checkout locks (lines, prices, totals,
// addresses), the reservations it holds, and the order it becomes. The decisions on them are
// pure functions here; actors/checkout_actor.cpp persists each result before it answers.
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "domain/cart.hpp"
#include "domain/errors.hpp"
#include "domain/identity.hpp"
#include "domain/ids.hpp"
#include "domain/order.hpp"

namespace cartd {

enum class checkout_status { open, processing, completed, expired };
const char* to_string(checkout_status s);
std::optional<checkout_status> parse_checkout_status(std::string_view s);

/// One line as checkout priced and reserved it.
struct checkout_line {
  item_id item;
  product_id product;
  variant_id variant;
  std::string name;
  std::int64_t quantity = 0;
  std::int64_t unit_price = 0;
};

struct money_totals {
  std::string currency;
  std::int64_t subtotal = 0;
  std::int64_t discount_total = 0;
  std::int64_t tax_total = 0;
  std::int64_t shipping_total = 0;
  std::int64_t total = 0;
};

/// A discount the order uses, and its limit (counted once when the order is placed).
struct discount_use {
  std::string id;
  std::optional<std::int64_t> limit;
};

struct checkout_session {
  std::string id;
  cart_id cart;
  std::string user_id;     ///< the cart's owner (empty: none)
  std::string session_id;  ///< the cart's guest session (empty: none)
  checkout_status status = checkout_status::open;
  std::uint64_t cart_version = 0;
  std::string shipping_address_json;  ///< canonical JSON object
  std::string billing_address_json;   ///< canonical JSON object; empty: null
  std::string shipping_method;        ///< empty: none
  std::string email;
  std::vector<checkout_line> lines;
  money_totals totals;
  std::string totals_json;  ///< the locked totals as API.md renders them
  std::vector<discount_use> discounts;
  std::int64_t expires_at_ms = 0;
  std::string order_id;  ///< set once completed
  std::int32_t payment_attempts = 0;  ///< each attempt has its own provider Idempotency-Key
  std::string payment_id;             ///< the provider's id of the attempt in flight, if any
  std::int64_t created_at_ms = 0;
  std::int64_t updated_at_ms = 0;
  std::uint64_t version = 0;  ///< of the stored row
};

struct order_item {
  product_id product;
  variant_id variant;
  std::string name;
  std::int64_t quantity = 0;
  std::int64_t unit_price = 0;
  std::int64_t total_price = 0;
};

struct order_payment {
  std::string provider;
  std::string id;
  payment_status status = payment_status::authorized;
  std::int64_t amount = 0;
};

struct order_history_entry {
  order_status status = order_status::paid;
  std::int64_t at_ms = 0;
};

struct order_record {
  std::string id;
  std::string order_number;
  std::string checkout_id;
  cart_id cart;
  std::string user_id;
  std::string session_id;
  order_status status = order_status::paid;
  money_totals totals;
  std::vector<order_item> items;
  std::string shipping_address_json;
  std::string billing_address_json;
  std::vector<order_history_entry> history;
  order_payment payment;
  std::int64_t created_at_ms = 0;
  std::int64_t updated_at_ms = 0;
  std::uint64_t version = 0;
};

/// Owners of carts see their checkout sessions and orders; admins see all.
bool can_access(const checkout_session& s, const principal& who);
bool can_access(const order_record& o, const principal& who);

/// Why a session cannot be processed at `now_ms` (expired, completed elsewhere), or nothing.
std::optional<domain_error> check_processable(const checkout_session& s, std::int64_t now_ms);

/// The order a completed payment makes of `s`.
order_record order_of(const checkout_session& s, std::string id, std::string number,
                      order_payment payment, std::int64_t now_ms);

/// `o` moved to `to` at `now_ms` (history appended); the caller checked the transition.
order_record with_status(const order_record& o, order_status to, std::int64_t now_ms);

/// The cart's items summed by variant (two lines of one variant reserve together).
std::vector<std::pair<std::pair<product_id, variant_id>, std::int64_t>> quantities_by_variant(
    const std::vector<checkout_line>& lines);

}  // namespace cartd
