#pragma once
// Pricing rules as the store keeps them (one JSON document per rule, the shape an admin wrote)
// read back as the engine's domain values. Decoding lives here, beside the store, so actors
// and the HTTP side receive typed values and never parse what the store holds.
#include <optional>

#include "domain/price_engine.hpp"
#include "persistence/store.hpp"

namespace cartd {

/// Nothing when the stored document is not a rule of that kind (it is then skipped).
std::optional<discount> decode_discount(const pricing_rule& r);
std::optional<tax_rule> decode_tax_rate(const pricing_rule& r);
std::optional<shipping_method> decode_shipping_method(const pricing_rule& r);

/// Every rule of the store, decoded for the engine (blocking: a store worker or the pricing
/// book's thread).
pricing_rules load_pricing_rules(store& s);

}  // namespace cartd
