#include "persistence/pricing_codec.hpp"

#include <simdjson.h>

#include "domain/money.hpp"
#include "domain/rate.hpp"
#include "domain/time.hpp"

namespace cartd {

namespace {

using simdjson::dom::element;
using simdjson::dom::object;

/// A rule's document as an object; false when it is not well-formed JSON or not an object.
bool parse(const std::string& body, simdjson::dom::parser& parser, object& out) {
  element doc;
  if (parser.parse(body).get(doc)) return false;
  return !doc.get_object().get(out);
}

std::optional<std::string> text(const object& o, const char* key) {
  std::string_view v;
  if (o[key].get_string().get(v)) return std::nullopt;
  return std::string(v);
}

std::optional<std::int64_t> integer(const object& o, const char* key, std::int64_t lo,
                                    std::int64_t hi) {
  std::int64_t v = 0;
  if (o[key].get_int64().get(v) || v < lo || v > hi) return std::nullopt;
  return v;
}

std::optional<bool> boolean(const object& o, const char* key) {
  bool v = false;
  if (o[key].get_bool().get(v)) return std::nullopt;
  return v;
}

simdjson::dom::parser& thread_parser() {
  thread_local simdjson::dom::parser parser;
  return parser;
}

}  // namespace

std::optional<discount> decode_discount(const pricing_rule& r) {
  auto& parser = thread_parser();
  object o;
  if (!parse(r.body, parser, o)) return std::nullopt;
  discount d;
  d.id = r.id;
  d.code = text(o, "code").value_or("");
  auto type = text(o, "type");
  if (!type || (*type != "fixed" && *type != "percentage")) return std::nullopt;
  d.type = *type == "fixed" ? discount_type::fixed : discount_type::percentage;
  if (d.type == discount_type::percentage) {
    auto v = parse_rate(text(o, "value").value_or(""));
    if (!v) return std::nullopt;
    d.percent = *v;
  } else {
    auto amount = integer(o, "value", 0, max_amount);
    if (!amount) return std::nullopt;
    d.amount = *amount;
    d.currency = text(o, "currency").value_or("");
  }
  d.automatic = boolean(o, "automatic").value_or(false);
  d.name = text(o, "name").value_or("");
  d.priority = static_cast<std::int32_t>(integer(o, "priority", -1'000'000, 1'000'000).value_or(0));
  d.min_subtotal = integer(o, "minSubtotal", 0, max_amount).value_or(0);
  simdjson::dom::array ids;
  if (!o["productIds"].get_array().get(ids)) {
    for (auto id : ids) {
      std::string_view v;
      if (!id.get_string().get(v)) d.product_ids.push_back(product_id{std::string(v)});
    }
  }
  if (auto s = text(o, "startsAt")) d.starts_at_ms = parse_rfc3339(*s);
  if (auto e = text(o, "endsAt")) d.ends_at_ms = parse_rfc3339(*e);
  if (auto u = integer(o, "usageLimit", 0, max_amount)) d.usage_limit = *u;
  d.active = boolean(o, "active").value_or(true);
  d.used = r.used;
  d.created_seq = r.seq;
  return d;
}

std::optional<tax_rule> decode_tax_rate(const pricing_rule& r) {
  auto& parser = thread_parser();
  object o;
  if (!parse(r.body, parser, o)) return std::nullopt;
  auto percent = parse_rate(text(o, "rate").value_or(""));
  if (!percent) return std::nullopt;
  return tax_rule{r.id, *percent, boolean(o, "inclusive").value_or(false)};
}

std::optional<shipping_method> decode_shipping_method(const pricing_rule& r) {
  auto& parser = thread_parser();
  object o;
  if (!parse(r.body, parser, o)) return std::nullopt;
  shipping_method m;
  m.id = r.id;
  auto name = text(o, "name");
  auto price = integer(o, "price", 0, max_amount);
  if (!name || !price) return std::nullopt;
  m.name = *name;
  m.price = *price;
  if (auto f = integer(o, "freeOver", 0, max_amount)) m.free_over = *f;
  m.currency = text(o, "currency").value_or("");
  return m;
}

pricing_rules load_pricing_rules(store& s) {
  pricing_rules out;
  for (const auto& r : s.list_pricing_rules("discount"))
    if (auto d = decode_discount(r)) out.discounts.push_back(*d);
  for (const auto& r : s.list_pricing_rules("tax"))
    if (auto t = decode_tax_rate(r)) out.taxes.emplace(t->region, *t);
  for (const auto& r : s.list_pricing_rules("shipping"))
    if (auto m = decode_shipping_method(r)) out.shipping.emplace(m->id, *m);
  return out;
}

}  // namespace cartd
