#include "domain/pricing.hpp"

#include "domain/money.hpp"

namespace cartd {

totals compute_totals(const cart& c) {
  totals t;
  t.currency = c.currency;
  t.lines.reserve(c.items.size());
  for (const auto& it : c.items) {
    // Prices are ≤ 10^10 and quantities ≤ 10^6, so a line fits; checked all the same.
    std::int64_t sub = checked_mul(it.unit_price, it.quantity).value_or(max_amount);
    t.lines.push_back(line_total{it.id, it.product, it.variant, it.quantity, it.unit_price, sub,
                                 0, 0, sub});
    t.subtotal = checked_add(t.subtotal, sub).value_or(max_amount);
  }
  t.total = t.subtotal - t.discount_total + t.tax_total + t.shipping_total;
  if (t.total < 0) t.total = 0;
  return t;
}

}  // namespace cartd
