#pragma once
// An order's life after checkout, as pure decisions (API.md, Orders): which status changes are
// allowed, what a PATCH or a DELETE should do, and the human-readable order number. The actor
// that owns an order asks these and then persists; the route turns `invalid` into
// `409 invalid_transition`.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cartd {

enum class order_status { paid, fulfilled, shipped, delivered, cancelled };
const char* to_string(order_status s);
/// The exact lowercase words of API.md; anything else is nothing.
std::optional<order_status> parse_order_status(std::string_view text);

/// The edges of API.md and only those: paid → fulfilled → shipped → delivered, and
/// paid | fulfilled → cancelled. A status to itself is not an edge.
bool can_transition(order_status from, order_status to);

enum class transition_result {
  apply,      ///< change the status and append to history
  no_change,  ///< already there: answer 200 with the order as it is, nothing appended
  invalid,    ///< 409 invalid_transition
};
/// `PATCH /orders/{id} {"status": to}`. A PATCH to the status the order already has is a
/// no-op 200 for every status, terminal ones included, so an admin tool may safely repeat a
/// PATCH whose answer it lost. A PATCH to `cancelled` that answers `apply` must have the same
/// effects as DELETE (stock returned, payment refunded or voided, once).
transition_result decide_transition(order_status from, order_status to);

enum class cancel_decision {
  cancel,             ///< cancel now: return stock, refund or void the payment
  already_cancelled,  ///< 200 with the order again; its stock and refund were done already
  invalid,            ///< shipped or delivered: 409 invalid_transition
};
/// `DELETE /orders/{id}`; repeatable, the effects happen once.
cancel_decision decide_cancel(order_status from);

enum class payment_status { authorized, captured, voided, refunded };
const char* to_string(payment_status s);
std::optional<payment_status> parse_payment_status(std::string_view text);

enum class payment_undo { void_payment, refund_payment, nothing };
/// What cancelling does to the order's payment: an authorization is voided, a capture is
/// refunded, and one already voided or refunded is left alone (a repeated cancel pays back once).
payment_undo payment_on_cancel(payment_status s);

/// "CD-<yyyymmdd of now_ms in UTC>-<8 chars>", e.g. "CD-20261203-007K4M9Q". The 8 chars are
/// the low 40 bits of `random_bits` in Crockford base32 (digits and capitals without I, L, O,
/// U), so they read aloud and type back without confusion. Not unique by itself: 2^40 numbers a
/// day make a clash rare, not impossible (with the 30 bits of 6 chars the soak met three in
/// 80 000 orders), so the store keeps a unique index on the number, reports a clash as
/// `number_taken` with nothing written, and the caller draws again (actors/checkout_payment.cpp).
std::string order_number(std::int64_t now_ms, std::uint64_t random_bits);

}  // namespace cartd
