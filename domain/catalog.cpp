#include "domain/catalog.hpp"

namespace cartd {

std::optional<variant_offer> offer_for(const product& p, const variant_id& v) {
  for (const auto& var : p.variants) {
    if (var.id == v) {
      return variant_offer{p.id,      var.id,           p.name,   p.currency, p.active,
                           var.price, var.available(), var.name, var.options};
    }
  }
  return std::nullopt;
}

line_state state_against(const cart& c, const cart_item& line, const product* p) {
  auto offer = p ? offer_for(*p, line.variant) : std::nullopt;
  if (offer && offer->currency != c.currency) offer.reset();
  return state_of(line, offer);
}

std::vector<line_state> line_states(const cart& c, const product_lookup& find) {
  std::vector<line_state> out;
  out.reserve(c.items.size());
  for (const auto& it : c.items) out.push_back(state_against(c, it, find(it.product)));
  return out;
}

}  // namespace cartd
