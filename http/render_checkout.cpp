#include "http/render_checkout.hpp"

#include "domain/time.hpp"
#include "http/json.hpp"

namespace cartd {

namespace {

void write_order(json_writer& w, const order_record& o) {
  w.begin_object()
      .field("id", o.id)
      .field("orderNumber", o.order_number)
      .key("userId")
      .value_or_null(o.user_id)
      .key("sessionId")
      .value_or_null(o.session_id)
      .field("checkoutSessionId", o.checkout_id)
      .field("cartId", o.cart.value)
      .field("status", to_string(o.status))
      .field("currency", o.totals.currency);
  w.key("items").begin_array();
  for (const auto& i : o.items) {
    w.begin_object()
        .field("productId", i.product.value)
        .field("variantId", i.variant.value)
        .field("name", i.name)
        .field("quantity", i.quantity)
        .field("unitPrice", i.unit_price)
        .field("totalPrice", i.total_price)
        .end_object();
  }
  w.end_array();
  w.field("subtotal", o.totals.subtotal)
      .field("discountTotal", o.totals.discount_total)
      .field("taxTotal", o.totals.tax_total)
      .field("shippingTotal", o.totals.shipping_total)
      .field("total", o.totals.total);
  w.key("shippingAddress").raw_or_null(o.shipping_address_json);
  w.key("billingAddress").raw_or_null(o.billing_address_json);
  w.key("payment")
      .begin_object()
      .field("provider", o.payment.provider)
      .field("id", o.payment.id)
      .field("status", to_string(o.payment.status))
      .field("amount", o.payment.amount)
      .end_object();
  w.key("history").begin_array();
  for (const auto& h : o.history)
    w.begin_object().field("status", to_string(h.status)).field("at", format_rfc3339(h.at_ms)).end_object();
  w.end_array();
  w.field("createdAt", format_rfc3339(o.created_at_ms))
      .field("updatedAt", format_rfc3339(o.updated_at_ms))
      .field("version", static_cast<std::int64_t>(o.version))
      .end_object();
}

}  // namespace

std::string render_checkout_session(const checkout_session& s) {
  json_writer w;
  w.begin_object()
      .field("id", s.id)
      .field("cartId", s.cart.value)
      .field("status", to_string(s.status))
      .field("cartVersion", static_cast<std::int64_t>(s.cart_version));
  w.key("shippingAddress").raw_or_null(s.shipping_address_json);
  w.key("billingAddress").raw_or_null(s.billing_address_json);
  w.key("shippingMethod").value_or_null(s.shipping_method);
  w.key("email").value_or_null(s.email);
  w.key("totals").raw_or_null(s.totals_json);
  w.field("expiresAt", format_rfc3339(s.expires_at_ms));
  w.key("orderId").value_or_null(s.order_id);
  w.field("createdAt", format_rfc3339(s.created_at_ms)).end_object();
  return w.str();
}

std::string render_order(const order_record& o) {
  json_writer w;
  write_order(w, o);
  return w.str();
}

std::string render_order_list(const std::vector<order_record>& orders,
                              const std::string& next_cursor) {
  json_writer w;
  w.begin_object().key("items").begin_array();
  for (const auto& o : orders) write_order(w, o);
  w.end_array();
  w.key("nextCursor").value_or_null(next_cursor);
  w.end_object();
  return w.str();
}

}  // namespace cartd
