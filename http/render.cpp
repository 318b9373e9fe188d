#include "http/render.hpp"

#include "domain/time.hpp"
#include "http/json.hpp"
#include "actors/pricing_book.hpp"
#include "http/pricing_codec.hpp"

namespace cartd {

namespace {

priced_totals totals_for(const cart& c, const pricing_rules* rules) {
  if (!rules) return priced_totals{compute_totals(c), {}, std::nullopt};
  return price(pricing_book::request_for(c, *rules, now_ms()));
}

void write_cart(json_writer& w, const cart& c, const pricing_rules* rules) {
  w.begin_object();
  w.field("id", c.id.value);
  w.key("userId").value_or_null(c.user_id);
  w.key("sessionId").value_or_null(c.session_id);
  w.field("status", to_string(c.status));
  w.field("currency", c.currency);
  w.key("region").value_or_null(c.region);
  w.key("discountCodes").begin_array();
  for (const auto& code : c.discount_codes) w.value(code);
  w.end_array();
  w.key("shippingMethod").value_or_null(c.shipping_method);
  w.key("metadata").raw_or_null(c.metadata_json);
  w.key("items").begin_array();
  for (const auto& it : c.items) {
    w.begin_object()
        .field("id", it.id.value)
        .field("productId", it.product.value)
        .field("variantId", it.variant.value)
        .field("name", it.name)
        .field("quantity", static_cast<std::int64_t>(it.quantity))
        .field("unitPrice", it.unit_price)
        .field("lineTotal", it.unit_price * it.quantity)
        .field("addedAt", format_rfc3339(it.added_at_ms))
        .end_object();
  }
  w.end_array();
  w.field("version", static_cast<std::uint64_t>(c.version));
  w.field("createdAt", format_rfc3339(c.created_at_ms));
  w.field("updatedAt", format_rfc3339(c.updated_at_ms));
  w.key("totals");
  write_priced_totals(w, totals_for(c, rules));
  w.end_object();
}

}  // namespace

void write_totals(json_writer& w, const totals& t) {
  write_priced_totals(w, priced_totals{t, {}, std::nullopt});
}

std::string render_cart(const cart& c, const pricing_rules* rules) {
  json_writer w;
  write_cart(w, c, rules);
  return w.str();
}

std::string render_totals(const cart& c, const pricing_rules* rules) {
  json_writer w;
  write_priced_totals(w, totals_for(c, rules));
  return w.str();
}

std::string render_cart_list(const std::vector<cart>& carts, const pricing_rules* rules) {
  json_writer w;
  w.begin_object().key("items").begin_array();
  for (const auto& c : carts) write_cart(w, c, rules);
  w.end_array().key("nextCursor").null().end_object();
  return w.str();
}

std::string render_product(const product& p) {
  json_writer w;
  w.begin_object()
      .field("id", p.id.value)
      .field("name", p.name)
      .field("currency", p.currency)
      .field("active", p.active);
  w.key("variants").begin_array();
  for (const auto& v : p.variants) {
    w.begin_object()
        .field("id", v.id.value)
        .field("sku", v.sku)
        .field("price", v.price)
        .field("stock", v.stock)
        .field("available", v.available())
        .end_object();
  }
  w.end_array();
  w.field("createdAt", format_rfc3339(p.created_at_ms));
  w.field("updatedAt", format_rfc3339(p.updated_at_ms));
  w.end_object();
  return w.str();
}

std::string render_session(const session& s, const std::string& token) {
  json_writer w;
  w.begin_object().field("id", s.id);
  if (!token.empty()) w.field("token", token);
  w.key("userId").value_or_null(s.user_id);
  w.key("deviceInfo").raw_or_null(s.device_json);
  w.field("expiresAt", format_rfc3339(s.expires_at_ms));
  w.field("createdAt", format_rfc3339(s.created_at_ms));
  w.end_object();
  return w.str();
}

std::string etag_of(const cart& c) { return "\"" + std::to_string(c.version) + "\""; }

}  // namespace cartd
