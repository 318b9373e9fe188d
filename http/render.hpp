#pragma once
// Domain values as the JSON of API.md. Every response body is written here or in problem.cpp.
#include <string>

#include "domain/cart.hpp"
#include "domain/catalog.hpp"
#include "domain/pricing.hpp"
#include "domain/session.hpp"

namespace cartd {

class json_writer;

void write_totals(json_writer& w, const totals& t);
struct pricing_rules;
/// Cart bodies carry the full totals under `rules` (null: no discounts, tax or shipping).
std::string render_cart(const cart& c, const pricing_rules* rules);
std::string render_totals(const cart& c, const pricing_rules* rules);
std::string render_cart_list(const std::vector<cart>& carts, const pricing_rules* rules);
std::string render_product(const product& p);
/// `token` is shown only in the answer to POST /session.
std::string render_session(const session& s, const std::string& token);
std::string etag_of(const cart& c);

}  // namespace cartd
