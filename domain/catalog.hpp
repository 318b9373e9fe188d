#pragma once
// The built-in catalog: products with variants, each with a price and on-hand stock.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "domain/cart.hpp"
#include "domain/ids.hpp"

namespace cartd {

struct variant {
  variant_id id;
  std::string sku;
  std::int64_t price = 0;
  std::int64_t stock = 0;     ///< on hand
  std::int64_t reserved = 0;  ///< held by checkouts
  std::string name;           ///< empty: none
  variant_options options;
  std::int64_t available() const { return stock - reserved; }
};

struct product {
  product_id id;
  std::string name;
  std::string currency;
  bool active = true;
  std::vector<variant> variants;
  std::int64_t created_at_ms = 0;
  std::int64_t updated_at_ms = 0;
};

/// The offer a cart sees for one variant of a product, or nothing when the variant is unknown.
std::optional<variant_offer> offer_for(const product& p, const variant_id& v);

/// How `line` of `c` stands against product `p` (null: gone): `unavailable` when the product
/// or variant is gone, inactive or in another currency than the cart, `price_changed` when the
/// catalog price differs from the line's.
line_state state_against(const cart& c, const cart_item& line, const product* p);
/// A product by id as the catalog has it now; null when it is gone.
using product_lookup = std::function<const product*(const product_id&)>;
/// state_against for every line of `c`.
std::vector<line_state> line_states(const cart& c, const product_lookup& find);

}  // namespace cartd
