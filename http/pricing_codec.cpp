#include "http/pricing_codec.hpp"

#include "domain/money.hpp"
#include "domain/time.hpp"
#include "http/json.hpp"
#include "http/render.hpp"

namespace cartd {

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
    w.key("name").value_or_null(a.name);
    w.field("type", to_string(a.type));
    w.field("amount", a.amount).end_object();
  }
  w.end_array();
  w.key("taxRate");
  if (p.tax_rate) w.value(format_rate(*p.tax_rate)); else w.null();
  w.field("taxInclusive", p.tax_inclusive);
  w.end_object();
}

}  // namespace cartd
