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

std::vector<line_state> line_states(const cart& c, const product_lookup& find) {
  std::vector<line_state> out;
  out.reserve(c.items.size());
  for (const auto& it : c.items) {
    const product* p = find(it.product);
    auto offer = p ? offer_for(*p, it.variant) : std::nullopt;
    if (offer && offer->currency != c.currency) offer.reset();
    out.push_back(state_of(it, offer));
  }
  return out;
}

}  // namespace cartd
