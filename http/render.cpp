#include "http/render.hpp"

#include "domain/time.hpp"
#include "http/json.hpp"
#include "actors/pricing_book.hpp"
#include "http/auth.hpp"
#include "http/pricing_codec.hpp"
#include "persistence/store.hpp"

namespace cartd {

namespace {

priced_totals totals_for(const cart& c, const pricing_rules* rules) {
  if (!rules) return priced_totals{compute_totals(c), {}, std::nullopt};
  return price(pricing_book::request_for(c, *rules, now_ms()));
}

void write_options(json_writer& w, const variant_options& options) {
  w.begin_object();
  for (const auto& [k, v] : options) w.field(k, v);
  w.end_object();
}

void write_code_status(json_writer& w, const cart& c, const pricing_rules* rules) {
  w.key("codeStatus").begin_array();
  pricing_rules none;
  auto now = now_ms();
  for (const auto& code : c.discount_codes) {
    auto why = pricing_book::refuse_code(code, c, rules ? *rules : none, now);
    w.begin_object().field("code", code).field("applies", !why.has_value());
    w.key("reason");
    if (why) w.value(why->reason); else w.null();
    w.end_object();
  }
  w.end_array();
}

void write_cart(json_writer& w, const cart& c, const std::vector<line_state>& lines,
                const pricing_rules* rules) {
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
  write_code_status(w, c, rules);
  w.key("shippingMethod").value_or_null(c.shipping_method);
  w.key("metadata").raw_or_null(c.metadata_json);
  w.key("items").begin_array();
  for (std::size_t i = 0; i < c.items.size(); ++i) {
    const auto& it = c.items[i];
    line_state st = i < lines.size() ? lines[i] : line_state{};
    w.begin_object()
        .field("id", it.id.value)
        .field("productId", it.product.value)
        .field("variantId", it.variant.value)
        .field("name", it.name);
    w.key("variantName").value_or_null(it.variant_name);
    w.key("options");
    write_options(w, it.options);
    w.field("quantity", static_cast<std::int64_t>(it.quantity))
        .field("unitPrice", it.unit_price)
        .field("lineTotal", it.unit_price * it.quantity)
        .field("status", to_string(st.status));
    if (st.status == line_status::price_changed) w.field("currentUnitPrice", st.current_price);
    w.field("addedAt", format_rfc3339(it.added_at_ms)).end_object();
  }
  w.end_array();
  w.field("itemCount", item_count(c));
  w.key("mergedInto").value_or_null(c.merged_into);
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

std::string render_cart(const cart& c, const std::vector<line_state>& lines,
                        const pricing_rules* rules) {
  json_writer w;
  write_cart(w, c, lines, rules);
  return w.str();
}

std::string render_totals(const cart& c, const pricing_rules* rules) {
  json_writer w;
  write_priced_totals(w, totals_for(c, rules));
  return w.str();
}

std::string render_cart_list(const std::vector<listed_cart>& carts, const std::string& next_cursor,
                             const pricing_rules* rules) {
  json_writer w;
  w.begin_object().key("items").begin_array();
  for (const auto& c : carts) write_cart(w, c.value, c.lines, rules);
  w.end_array().key("nextCursor").value_or_null(next_cursor).end_object();
  return w.str();
}

std::string render_product(const product& p) {
  json_writer w;
  write_product(w, p);
  return w.str();
}

std::string render_product_list(const std::vector<product>& products,
                                const std::string& next_cursor) {
  json_writer w;
  w.begin_object().key("items").begin_array();
  for (const auto& p : products) write_product(w, p);
  w.end_array().key("nextCursor").value_or_null(next_cursor).end_object();
  return w.str();
}

std::string encode_cursor(const page_key& k) {
  // group.created.id, base64url: opaque to clients, and every character safe in a query.
  return b64url_encode(std::to_string(k.group) + "." + std::to_string(k.created_at_ms) + "." +
                       k.id);
}

std::optional<page_key> decode_cursor(const std::string& text) {
  std::string plain;
  if (text.empty() || text.size() > 400 || !b64url_decode(text, plain)) return std::nullopt;
  auto a = plain.find('.');
  auto b = a == std::string::npos ? a : plain.find('.', a + 1);
  if (b == std::string::npos || b + 1 >= plain.size()) return std::nullopt;
  auto digits = [](const std::string& s) {
    return !s.empty() && s.size() <= 18 && s.find_first_not_of("0123456789") == std::string::npos;
  };
  auto g = plain.substr(0, a);
  auto c = plain.substr(a + 1, b - a - 1);
  if (!digits(g) || !digits(c)) return std::nullopt;
  return page_key{std::stoi(g), std::stoll(c), plain.substr(b + 1)};
}

void write_product(json_writer& w, const product& p) {
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
        .field("available", v.available());
    w.key("name").value_or_null(v.name);
    w.key("options");
    write_options(w, v.options);
    w.end_object();
  }
  w.end_array();
  w.field("createdAt", format_rfc3339(p.created_at_ms));
  w.field("updatedAt", format_rfc3339(p.updated_at_ms));
  w.end_object();
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
