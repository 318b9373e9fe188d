#include "domain/checkout.hpp"

#include <map>

namespace cartd {

const char* to_string(checkout_status s) {
  switch (s) {
    case checkout_status::open:
      return "open";
    case checkout_status::processing:
      return "processing";
    case checkout_status::completed:
      return "completed";
    case checkout_status::expired:
      return "expired";
  }
  return "open";
}

std::optional<checkout_status> parse_checkout_status(std::string_view s) {
  for (auto st : {checkout_status::open, checkout_status::processing, checkout_status::completed,
                  checkout_status::expired})
    if (s == to_string(st)) return st;
  return std::nullopt;
}

namespace {
bool owns(const std::string& user_id, const std::string& session_id, const principal& who) {
  if (who.admin) return true;
  if (!user_id.empty() && user_id == who.user) return true;
  return !session_id.empty() && session_id == who.session;
}
}  // namespace

bool can_access(const checkout_session& s, const principal& who) {
  return owns(s.user_id, s.session_id, who);
}

bool can_access(const order_record& o, const principal& who) {
  return owns(o.user_id, o.session_id, who);
}

std::optional<domain_error> check_processable(const checkout_session& s, std::int64_t now_ms) {
  if (s.status == checkout_status::expired || now_ms >= s.expires_at_ms)
    return make_error(error_code::session_expired, "this checkout session has expired");
  return std::nullopt;
}

order_record order_of(const checkout_session& s, std::string id, std::string number,
                      order_payment payment, std::int64_t now_ms) {
  order_record o;
  o.id = std::move(id);
  o.order_number = std::move(number);
  o.checkout_id = s.id;
  o.cart = s.cart;
  o.user_id = s.user_id;
  o.session_id = s.session_id;
  o.status = order_status::paid;
  o.totals = s.totals;
  for (const auto& l : s.lines) {
    o.items.push_back(order_item{l.product, l.variant, l.name, l.quantity, l.unit_price,
                                 l.unit_price * l.quantity});
  }
  o.shipping_address_json = s.shipping_address_json;
  o.billing_address_json = s.billing_address_json;
  o.history.push_back(order_history_entry{order_status::paid, now_ms});
  o.payment = std::move(payment);
  o.created_at_ms = now_ms;
  o.updated_at_ms = now_ms;
  return o;
}

order_record with_status(const order_record& o, order_status to, std::int64_t now_ms) {
  order_record next = o;
  next.status = to;
  next.history.push_back(order_history_entry{to, now_ms});
  next.updated_at_ms = now_ms;
  return next;
}

std::vector<std::pair<std::pair<product_id, variant_id>, std::int64_t>> quantities_by_variant(
    const std::vector<checkout_line>& lines) {
  std::map<std::pair<product_id, variant_id>, std::int64_t> sums;  // sorted: one lock order
  for (const auto& l : lines) sums[{l.product, l.variant}] += l.quantity;
  return {sums.begin(), sums.end()};
}

}  // namespace cartd
