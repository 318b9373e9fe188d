#pragma once
// Cart totals. Until the pricing engine lands, discounts, tax and shipping are 0; the shape is
// the final one so clients need not change.
#include <cstdint>
#include <string>
#include <vector>

#include "domain/cart.hpp"

namespace cartd {

struct line_total {
  item_id item;
  product_id product;
  variant_id variant;
  std::int32_t quantity = 0;
  std::int64_t unit_price = 0;
  std::int64_t subtotal = 0;
  std::int64_t discount = 0;
  std::int64_t tax = 0;
  std::int64_t total = 0;
};

struct totals {
  std::string currency;
  std::int64_t subtotal = 0;
  std::int64_t discount_total = 0;
  std::int64_t tax_total = 0;
  std::int64_t shipping_total = 0;
  std::int64_t total = 0;
  std::vector<line_total> lines;
};

totals compute_totals(const cart& c);

}  // namespace cartd
