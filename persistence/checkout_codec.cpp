#include "persistence/checkout_codec.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <simdjson.h>

namespace cartd {

namespace {

using writer = rapidjson::Writer<rapidjson::StringBuffer>;
using simdjson::dom::object;

void put(writer& w, const char* key, std::string_view v) {
  w.Key(key);
  w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
}

void put(writer& w, const char* key, std::int64_t v) {
  w.Key(key);
  w.Int64(v);
}

void put_totals(writer& w, const money_totals& t) {
  w.Key("totals");
  w.StartObject();
  put(w, "cur", t.currency);
  put(w, "sub", t.subtotal);
  put(w, "disc", t.discount_total);
  put(w, "tax", t.tax_total);
  put(w, "ship", t.shipping_total);
  put(w, "total", t.total);
  w.EndObject();
}

std::string str(const object& o, const char* key) {
  std::string_view v;
  if (o[key].get_string().get(v)) return {};
  return std::string(v);
}

std::int64_t num(const object& o, const char* key) {
  std::int64_t v = 0;
  if (o[key].get_int64().get(v)) return 0;
  return v;
}

bool read_totals(const object& o, money_totals& t) {
  object to;
  if (o["totals"].get_object().get(to)) return false;
  t.currency = str(to, "cur");
  t.subtotal = num(to, "sub");
  t.discount_total = num(to, "disc");
  t.tax_total = num(to, "tax");
  t.shipping_total = num(to, "ship");
  t.total = num(to, "total");
  return true;
}

simdjson::dom::parser& thread_parser() {
  thread_local simdjson::dom::parser parser;
  return parser;
}

bool parse(std::string_view json, object& out) {
  simdjson::dom::element doc;
  if (thread_parser().parse(json.data(), json.size()).get(doc)) return false;
  return !doc.get_object().get(out);
}

}  // namespace

std::string encode_checkout(const checkout_session& s) {
  rapidjson::StringBuffer buf;
  writer w(buf);
  w.StartObject();
  put(w, "id", s.id);
  put(w, "cart", s.cart.value);
  put(w, "user", s.user_id);
  put(w, "session", s.session_id);
  put(w, "status", to_string(s.status));
  put(w, "cartVersion", static_cast<std::int64_t>(s.cart_version));
  put(w, "ship", s.shipping_address_json);
  put(w, "bill", s.billing_address_json);
  put(w, "method", s.shipping_method);
  put(w, "email", s.email);
  w.Key("lines");
  w.StartArray();
  for (const auto& l : s.lines) {
    w.StartObject();
    put(w, "i", l.item.value);
    put(w, "p", l.product.value);
    put(w, "v", l.variant.value);
    put(w, "n", l.name);
    put(w, "q", l.quantity);
    put(w, "u", l.unit_price);
    w.EndObject();
  }
  w.EndArray();
  put_totals(w, s.totals);
  put(w, "totalsJson", s.totals_json);
  w.Key("discounts");
  w.StartArray();
  for (const auto& d : s.discounts) {
    w.StartObject();
    put(w, "id", d.id);
    if (d.limit) put(w, "limit", *d.limit);
    w.EndObject();
  }
  w.EndArray();
  put(w, "expires", s.expires_at_ms);
  put(w, "order", s.order_id);
  put(w, "attempts", s.payment_attempts);
  put(w, "payment", s.payment_id);
  put(w, "created", s.created_at_ms);
  put(w, "updated", s.updated_at_ms);
  put(w, "version", static_cast<std::int64_t>(s.version));
  w.EndObject();
  return buf.GetString();
}

std::optional<checkout_session> decode_checkout(std::string_view json) {
  object o;
  if (!parse(json, o)) return std::nullopt;
  checkout_session s;
  s.id = str(o, "id");
  s.cart = cart_id{str(o, "cart")};
  s.user_id = str(o, "user");
  s.session_id = str(o, "session");
  auto st = parse_checkout_status(str(o, "status"));
  if (!st || s.id.empty()) return std::nullopt;
  s.status = *st;
  s.cart_version = static_cast<std::uint64_t>(num(o, "cartVersion"));
  s.shipping_address_json = str(o, "ship");
  s.billing_address_json = str(o, "bill");
  s.shipping_method = str(o, "method");
  s.email = str(o, "email");
  simdjson::dom::array lines;
  if (o["lines"].get_array().get(lines)) return std::nullopt;
  for (auto el : lines) {
    object lo;
    if (el.get_object().get(lo)) return std::nullopt;
    s.lines.push_back(checkout_line{item_id{str(lo, "i")}, product_id{str(lo, "p")},
                                    variant_id{str(lo, "v")}, str(lo, "n"), num(lo, "q"),
                                    num(lo, "u")});
  }
  if (!read_totals(o, s.totals)) return std::nullopt;
  s.totals_json = str(o, "totalsJson");
  simdjson::dom::array discounts;
  if (!o["discounts"].get_array().get(discounts)) {
    for (auto el : discounts) {
      object d;
      if (el.get_object().get(d)) return std::nullopt;
      discount_use u{str(d, "id"), std::nullopt};
      std::int64_t limit = 0;
      if (!d["limit"].get_int64().get(limit)) u.limit = limit;
      s.discounts.push_back(std::move(u));
    }
  }
  s.expires_at_ms = num(o, "expires");
  s.order_id = str(o, "order");
  s.payment_attempts = static_cast<std::int32_t>(num(o, "attempts"));
  s.payment_id = str(o, "payment");
  s.created_at_ms = num(o, "created");
  s.updated_at_ms = num(o, "updated");
  s.version = static_cast<std::uint64_t>(num(o, "version"));
  return s;
}

std::string encode_order(const order_record& o) {
  rapidjson::StringBuffer buf;
  writer w(buf);
  w.StartObject();
  put(w, "id", o.id);
  put(w, "number", o.order_number);
  put(w, "checkout", o.checkout_id);
  put(w, "cart", o.cart.value);
  put(w, "user", o.user_id);
  put(w, "session", o.session_id);
  put(w, "status", to_string(o.status));
  put_totals(w, o.totals);
  w.Key("items");
  w.StartArray();
  for (const auto& i : o.items) {
    w.StartObject();
    put(w, "p", i.product.value);
    put(w, "v", i.variant.value);
    put(w, "n", i.name);
    put(w, "q", i.quantity);
    put(w, "u", i.unit_price);
    put(w, "t", i.total_price);
    w.EndObject();
  }
  w.EndArray();
  put(w, "ship", o.shipping_address_json);
  put(w, "bill", o.billing_address_json);
  w.Key("history");
  w.StartArray();
  for (const auto& h : o.history) {
    w.StartObject();
    put(w, "s", to_string(h.status));
    put(w, "at", h.at_ms);
    w.EndObject();
  }
  w.EndArray();
  w.Key("payment");
  w.StartObject();
  put(w, "provider", o.payment.provider);
  put(w, "id", o.payment.id);
  put(w, "status", to_string(o.payment.status));
  put(w, "amount", o.payment.amount);
  w.EndObject();
  put(w, "created", o.created_at_ms);
  put(w, "updated", o.updated_at_ms);
  put(w, "version", static_cast<std::int64_t>(o.version));
  w.EndObject();
  return buf.GetString();
}

std::optional<order_record> decode_order(std::string_view json) {
  object o;
  if (!parse(json, o)) return std::nullopt;
  order_record r;
  r.id = str(o, "id");
  r.order_number = str(o, "number");
  r.checkout_id = str(o, "checkout");
  r.cart = cart_id{str(o, "cart")};
  r.user_id = str(o, "user");
  r.session_id = str(o, "session");
  auto st = parse_order_status(str(o, "status"));
  if (!st || r.id.empty()) return std::nullopt;
  r.status = *st;
  if (!read_totals(o, r.totals)) return std::nullopt;
  simdjson::dom::array items;
  if (o["items"].get_array().get(items)) return std::nullopt;
  for (auto el : items) {
    object i;
    if (el.get_object().get(i)) return std::nullopt;
    r.items.push_back(order_item{product_id{str(i, "p")}, variant_id{str(i, "v")}, str(i, "n"),
                                 num(i, "q"), num(i, "u"), num(i, "t")});
  }
  r.shipping_address_json = str(o, "ship");
  r.billing_address_json = str(o, "bill");
  simdjson::dom::array history;
  if (!o["history"].get_array().get(history)) {
    for (auto el : history) {
      object h;
      if (el.get_object().get(h)) return std::nullopt;
      auto hs = parse_order_status(str(h, "s"));
      if (!hs) return std::nullopt;
      r.history.push_back(order_history_entry{*hs, num(h, "at")});
    }
  }
  object p;
  if (o["payment"].get_object().get(p)) return std::nullopt;
  r.payment.provider = str(p, "provider");
  r.payment.id = str(p, "id");
  auto ps = parse_payment_status(str(p, "status"));
  if (!ps) return std::nullopt;
  r.payment.status = *ps;
  r.payment.amount = num(p, "amount");
  r.created_at_ms = num(o, "created");
  r.updated_at_ms = num(o, "updated");
  r.version = static_cast<std::uint64_t>(num(o, "version"));
  return r;
}

std::string encode_checkout_event(const checkout_session& s, std::int64_t at_ms) {
  rapidjson::StringBuffer buf;
  writer w(buf);
  w.StartObject();
  put(w, "checkoutId", s.id);
  put(w, "cartId", s.cart.value);
  put(w, "currency", s.totals.currency);
  put(w, "total", s.totals.total);
  put(w, "at", at_ms);
  w.EndObject();
  return buf.GetString();
}

std::string encode_order_event(const std::string& type, const order_record& o,
                               std::int64_t at_ms) {
  rapidjson::StringBuffer buf;
  writer w(buf);
  w.StartObject();
  put(w, "type", type);
  put(w, "orderId", o.id);
  put(w, "orderNumber", o.order_number);
  put(w, "cartId", o.cart.value);
  put(w, "status", to_string(o.status));
  put(w, "paymentStatus", to_string(o.payment.status));
  put(w, "currency", o.totals.currency);
  put(w, "total", o.totals.total);
  put(w, "at", at_ms);
  w.EndObject();
  return buf.GetString();
}

}  // namespace cartd
