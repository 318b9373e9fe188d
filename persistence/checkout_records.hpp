#pragma once
// What the store takes and gives for checkout, payments and orders (see store.hpp).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "domain/checkout.hpp"

namespace cartd {

/// A variant the store could not reserve: what was asked and what was there.
struct stock_shortage {
  product_id product;
  variant_id variant;
  std::int64_t requested = 0;
  std::int64_t available = 0;
};

struct open_checkout_result {
  enum class outcome { opened, insufficient_stock, processing_exists } result = outcome::opened;
  std::vector<stock_shortage> shortages;
  std::vector<std::string> replaced;  ///< open sessions of the cart this one replaced
};

struct place_order_result {
  enum class outcome {
    placed,          ///< this call made the order
    already_placed,  ///< the session has its order already: `order` is that one
    cart_changed,    ///< the cart's version moved since the session was made
    expired,         ///< the session expired (its reservations are released)
    used_up,         ///< a discount reached its usage limit
    not_found,
    number_taken,    ///< another order holds this order number: nothing was written
  } result = outcome::placed;
  order_record order;
};

struct order_query {
  std::string user_id;     ///< the caller's own orders (user)…
  std::string session_id;  ///< …or guest session; both empty with `all`
  bool all = false;        ///< admins
  std::optional<order_status> status;
  std::string after_id;  ///< keyset cursor: orders older than this one (ids are time-ordered)
  int limit = 20;
};

/// A payment that made no order (a second payment for a session, one that came too late), to
/// be voided or refunded: kept until the provider confirmed the give-back.
struct payment_give_back {
  std::string payment_id;
  std::string status;  ///< the payment's: authorized | pending (void) or captured (refund)
  std::int64_t amount = 0;
  std::int64_t created_at_ms = 0;
};

/// A payment as the simulated provider keeps it (its own ledger, as a real provider would).
struct ledger_payment {
  std::string id;
  std::string idempotency_key;
  std::string reference;  ///< the checkout session id
  std::int64_t amount = 0;
  std::string currency;
  std::string status;  ///< authorized | declined | captured | voided | refunded
  std::int64_t created_at_ms = 0;
};

}  // namespace cartd
