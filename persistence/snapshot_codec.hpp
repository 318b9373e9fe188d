#pragma once
// A cart snapshot as stored: compact JSON of the whole cart state.
#include <optional>
#include <string>
#include <string_view>

#include "domain/cart.hpp"

namespace cartd {

std::string encode_snapshot(const cart& c);
/// Nothing when the stored bytes are not a snapshot we wrote (corruption).
std::optional<cart> decode_snapshot(std::string_view json);

/// A variant's options as stored in the catalog: a JSON object of strings ("" when none).
std::string encode_options(const variant_options& o);
/// Empty when `json` is empty or not such an object.
variant_options decode_options(std::string_view json);

/// The payload of a domain event about `after` (and the line it concerns, if any), as JSON.
std::string encode_event(const std::string& type, const cart& after, const cart_item* line,
                         const std::string& related_cart, std::int64_t at_ms);

}  // namespace cartd
