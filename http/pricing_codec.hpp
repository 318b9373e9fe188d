#pragma once
// Totals as API.md's Totals JSON. (Stored rules are decoded in persistence/pricing_codec.cpp.)

#include "domain/price_engine.hpp"

namespace cartd {

class json_writer;
/// Totals with the applied discounts and the tax rate, as API.md's Totals.
void write_priced_totals(json_writer& w, const priced_totals& p);

}  // namespace cartd
