#pragma once
// Pricing rules as stored (their API JSON) read back into the engine's types.
#include <optional>
#include <string>

#include "domain/price_engine.hpp"
#include "persistence/store.hpp"

namespace cartd {

std::optional<discount> discount_from_rule(const pricing_rule& r);
std::optional<tax_rule> tax_from_rule(const pricing_rule& r);
std::optional<shipping_method> shipping_from_rule(const pricing_rule& r);

class json_writer;
/// Totals with the applied discounts and the tax rate, as API.md's Totals.
void write_priced_totals(json_writer& w, const priced_totals& p);

}  // namespace cartd
