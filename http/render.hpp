#pragma once
// Domain values as the JSON of API.md. Every response body is written here or in problem.cpp.
#include <optional>
#include <string>
#include <vector>

#include "domain/cart.hpp"
#include "domain/catalog.hpp"
#include "domain/pricing.hpp"
#include "domain/session.hpp"

namespace cartd {

class json_writer;
struct page_key;

void write_totals(json_writer& w, const totals& t);
struct pricing_rules;
/// Cart bodies carry the full totals under `rules` (null: no discounts, tax or shipping).
/// `lines`: how each line stands against the catalog (empty: every line as it is).
std::string render_cart(const cart& c, const std::vector<line_state>& lines,
                        const pricing_rules* rules);
std::string render_totals(const cart& c, const pricing_rules* rules);
/// A cart with its line states, as listed.
struct listed_cart {
  cart value;
  std::vector<line_state> lines;
};
/// `next_cursor`: empty on the last page.
std::string render_cart_list(const std::vector<listed_cart>& carts, const std::string& next_cursor,
                             const pricing_rules* rules);
std::string render_product(const product& p);
void write_product(json_writer& w, const product& p);
/// `{"items": [...], "nextCursor": ...}` of products.
std::string render_product_list(const std::vector<product>& products,
                                const std::string& next_cursor);
/// An opaque list cursor for a page key, and back (nothing when it is not one of ours).
std::string encode_cursor(const page_key& k);
std::optional<page_key> decode_cursor(const std::string& text);
/// `token` is shown only in the answer to POST /session.
std::string render_session(const session& s, const std::string& token);
std::string etag_of(const cart& c);

}  // namespace cartd
