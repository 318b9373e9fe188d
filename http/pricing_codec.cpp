#include "http/pricing_codec.hpp"

#include "domain/money.hpp"
#include "domain/time.hpp"
#include "http/json.hpp"
#include "http/render.hpp"

namespace cartd {

std::optional<discount> discount_from_rule(const pricing_rule& r) {
  body_reader b(r.body);
  if (b.error()) return std::nullopt;
  discount d;
  d.id = r.id;
  d.code = b.string("code", false, 0, 64).value_or("");
  auto type = b.string("type", true, 1, 16).value_or("");
  d.type = type == "fixed" ? discount_type::fixed : discount_type::percentage;
  if (d.type == discount_type::percentage) {
    auto v = parse_rate(b.string("value", true, 1, 16).value_or(""));
    if (!v) return std::nullopt;
    d.percent = *v;
  } else {
    d.amount = b.integer("value", true, 0, max_amount).value_or(0);
    d.currency = b.string("currency", false, 3, 3).value_or("");
  }
  d.automatic = b.boolean("automatic", false).value_or(false);
  d.priority = static_cast<std::int32_t>(b.integer("priority", false, -1'000'000, 1'000'000).value_or(0));
  d.min_subtotal = b.integer("minSubtotal", false, 0, max_amount).value_or(0);
  for (auto& p : b.string_array("productIds", false, 1000, 64).value_or(std::vector<std::string>{}))
    d.product_ids.push_back(product_id{p});
  if (auto s = b.string("startsAt", false, 1, 40)) d.starts_at_ms = parse_rfc3339(*s);
  if (auto e = b.string("endsAt", false, 1, 40)) d.ends_at_ms = parse_rfc3339(*e);
  if (auto u = b.integer("usageLimit", false, 0, max_amount)) d.usage_limit = *u;
  d.active = b.boolean("active", false).value_or(true);
  d.used = r.used;
  d.created_seq = r.seq;
  return d;
}

std::optional<tax_rule> tax_from_rule(const pricing_rule& r) {
  body_reader b(r.body);
  if (b.error()) return std::nullopt;
  auto rate = parse_rate(b.string("rate", true, 1, 16).value_or(""));
  if (!rate) return std::nullopt;
  return tax_rule{r.id, *rate, b.boolean("inclusive", false).value_or(false)};
}

std::optional<shipping_method> shipping_from_rule(const pricing_rule& r) {
  body_reader b(r.body);
  if (b.error()) return std::nullopt;
  shipping_method m;
  m.id = r.id;
  m.name = b.string("name", true, 1, 100).value_or("");
  m.price = b.integer("price", true, 0, max_amount).value_or(0);
  if (auto f = b.integer("freeOver", false, 0, max_amount)) m.free_over = *f;
  m.currency = b.string("currency", false, 3, 3).value_or("");
  return m;
}

void write_priced_totals(json_writer& w, const priced_totals& p) {
  const auto& t = p.sums;
  w.begin_object()
      .field("currency", t.currency)
      .field("subtotal", t.subtotal)
      .field("discountTotal", t.discount_total)
      .field("taxTotal", t.tax_total)
      .field("shippingTotal", t.shipping_total)
      .field("total", t.total);
  w.key("lines").begin_array();
  for (const auto& l : t.lines) {
    w.begin_object()
        .field("itemId", l.item.value)
        .field("productId", l.product.value)
        .field("variantId", l.variant.value)
        .field("quantity", static_cast<std::int64_t>(l.quantity))
        .field("unitPrice", l.unit_price)
        .field("subtotal", l.subtotal)
        .field("discount", l.discount)
        .field("tax", l.tax)
        .field("total", l.total)
        .end_object();
  }
  w.end_array();
  w.key("appliedDiscounts").begin_array();
  for (const auto& a : p.applied) {
    w.begin_object().field("id", a.id);
    w.key("code").value_or_null(a.code);
    w.field("amount", a.amount).end_object();
  }
  w.end_array();
  w.key("taxRate");
  if (p.tax_rate) w.value(format_rate(*p.tax_rate)); else w.null();
  w.end_object();
}

}  // namespace cartd
