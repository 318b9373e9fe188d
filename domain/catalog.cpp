#include "domain/catalog.hpp"

namespace cartd {

std::optional<variant_offer> offer_for(const product& p, const variant_id& v) {
  for (const auto& var : p.variants) {
    if (var.id == v) {
      return variant_offer{p.id, var.id, p.name, p.currency, p.active, var.price, var.available()};
    }
  }
  return std::nullopt;
}

}  // namespace cartd
