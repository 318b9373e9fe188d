#pragma once
// Checkout sessions and orders as stored: one compact JSON document per row (the columns
// beside it are what queries filter on). Ours alone, versioned by its field names.
#include <optional>
#include <string>
#include <string_view>

#include "domain/checkout.hpp"

namespace cartd {

std::string encode_checkout(const checkout_session& s);
/// Nothing when the bytes are not a document we wrote (corruption).
std::optional<checkout_session> decode_checkout(std::string_view json);

std::string encode_order(const order_record& o);
std::optional<order_record> decode_order(std::string_view json);

/// Event payloads (the outbox): checkout_started, order_placed, order_status_changed,
/// order_cancelled, payment_captured, payment_refunded.
std::string encode_checkout_event(const checkout_session& s, std::int64_t at_ms);
std::string encode_order_event(const std::string& type, const order_record& o,
                               std::int64_t at_ms);

}  // namespace cartd
