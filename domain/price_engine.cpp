#include "domain/price_engine.hpp"

#include <algorithm>
#include <numeric>

#include "domain/money.hpp"

namespace cartd {

namespace {

bool applies_to(const discount& d, const priced_line& l) {
  if (d.product_ids.empty()) return true;
  return std::find(d.product_ids.begin(), d.product_ids.end(), l.product) != d.product_ids.end();
}

std::int64_t subtotal_of(const pricing_request& r) {
  std::int64_t s = 0;
  for (const auto& l : r.lines) s += l.unit_price * l.quantity;
  return s;
}

}  // namespace

std::vector<std::int64_t> allocate(std::int64_t amount, const std::vector<std::int64_t>& weights) {
  std::vector<std::int64_t> out(weights.size(), 0);
  int128 total = 0;
  for (auto w : weights) total += w;
  if (total <= 0 || amount <= 0) return out;
  std::vector<int128> remainder(weights.size());
  std::int64_t given = 0;
  for (std::size_t i = 0; i < weights.size(); ++i) {
    int128 scaled = static_cast<int128>(amount) * weights[i];
    out[i] = static_cast<std::int64_t>(scaled / total);
    remainder[i] = scaled % total;
    given += out[i];
  }
  std::vector<std::size_t> order(weights.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    if (remainder[a] != remainder[b]) return remainder[a] > remainder[b];
    if (weights[a] != weights[b]) return weights[a] > weights[b];
    return a < b;
  });
  for (std::size_t k = 0; given < amount && k < order.size(); ++k, ++given) ++out[order[k]];
  return out;
}

const char* to_string(discount_type t) {
  return t == discount_type::fixed ? "fixed" : "percentage";
}

std::optional<code_problem> code_refusal(const discount& d, const pricing_request& r) {
  auto no = [&](const char* reason, std::string why) {
    return code_problem{reason, d.code.empty() ? why : d.code + ": " + why};
  };
  if (!d.active) return no("inactive", "the code is no longer active");
  if (d.starts_at_ms && r.now_ms < *d.starts_at_ms)
    return no("not_started", "the code is not valid yet");
  if (d.ends_at_ms && r.now_ms >= *d.ends_at_ms) return no("expired", "the code has expired");
  if (d.usage_limit && d.used >= *d.usage_limit) return no("used_up", "the code has been used up");
  if (d.type == discount_type::fixed && d.currency != r.currency)
    return no("currency", "the code is for " + d.currency + " carts");
  if (subtotal_of(r) < d.min_subtotal)
    return no("min_subtotal",
              "the code needs a subtotal of at least " + std::to_string(d.min_subtotal));
  bool any = std::any_of(r.lines.begin(), r.lines.end(),
                         [&](const priced_line& l) { return applies_to(d, l); });
  if (!any) return no("no_eligible_item", "the code applies to none of the items in the cart");
  return std::nullopt;
}

priced_totals price(const pricing_request& r) {
  priced_totals out;
  auto& t = out.sums;
  t.currency = r.currency;
  std::vector<std::int64_t> left;  // what is left of each line after the discounts so far
  for (const auto& l : r.lines) {
    std::int64_t sub = checked_mul(l.unit_price, l.quantity).value_or(max_amount);
    t.lines.push_back(line_total{l.item, l.product, l.variant, l.quantity, l.unit_price, sub, 0, 0, 0});
    t.subtotal += sub;
    left.push_back(sub);
  }
  // Automatic promotions by priority (then creation), then codes in the order added.
  std::vector<const discount*> order;
  for (const auto& d : r.automatic) order.push_back(&d);
  std::stable_sort(order.begin(), order.end(), [](const discount* a, const discount* b) {
    return a->priority != b->priority ? a->priority < b->priority : a->created_seq < b->created_seq;
  });
  for (const auto& d : r.codes) order.push_back(&d);
  for (const discount* d : order) {
    if (code_refusal(*d, r)) continue;
    std::vector<std::size_t> idx;
    std::vector<std::int64_t> weights;
    std::int64_t eligible = 0;
    for (std::size_t i = 0; i < r.lines.size(); ++i) {
      if (!applies_to(*d, r.lines[i]) || left[i] <= 0) continue;
      idx.push_back(i);
      weights.push_back(left[i]);
      eligible += left[i];
    }
    if (eligible <= 0) continue;
    std::int64_t amount =
        d->type == discount_type::percentage
            ? round_half_away(static_cast<int128>(eligible) * d->percent.ten_thousandths, 1'000'000)
            : std::min(d->amount, eligible);
    amount = std::min(amount, eligible);
    if (amount <= 0) continue;
    auto shares = allocate(amount, weights);
    for (std::size_t k = 0; k < idx.size(); ++k) {
      t.lines[idx[k]].discount += shares[k];
      left[idx[k]] -= shares[k];
    }
    t.discount_total += amount;
    out.applied.push_back(applied_discount{d->id, d->code, amount, d->name, d->type});
  }
  if (r.tax) out.tax_rate = r.tax->percent;
  out.tax_inclusive = r.tax && r.tax->inclusive;
  for (std::size_t i = 0; i < t.lines.size(); ++i) {
    auto& l = t.lines[i];
    std::int64_t taxable = l.subtotal - l.discount;
    if (r.tax && taxable > 0) {
      int128 p = r.tax->percent.ten_thousandths;
      l.tax = r.tax->inclusive
                  ? round_half_away(static_cast<int128>(taxable) * p, 1'000'000 + p)
                  : round_half_away(static_cast<int128>(taxable) * p, 1'000'000);
    }
    l.total = taxable + (r.tax && !r.tax->inclusive ? l.tax : 0);
    t.tax_total += l.tax;
  }
  if (r.shipping) {
    bool free = r.shipping->free_over && t.subtotal - t.discount_total >= *r.shipping->free_over;
    t.shipping_total = free ? 0 : r.shipping->price;
  }
  bool exclusive = r.tax && !r.tax->inclusive;
  t.total = t.subtotal - t.discount_total + (exclusive ? t.tax_total : 0) + t.shipping_total;
  if (t.total < 0) t.total = 0;
  return out;
}

}  // namespace cartd
