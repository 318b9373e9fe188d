#pragma once
// Checkout sessions and orders as API.md's JSON.
#include <string>
#include <vector>

#include "domain/checkout.hpp"

namespace cartd {

std::string render_checkout_session(const checkout_session& s);
std::string render_order(const order_record& o);
std::string render_order_list(const std::vector<order_record>& orders,
                              const std::string& next_cursor);

}  // namespace cartd
