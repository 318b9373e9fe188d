#pragma once
// Strong id types: a cart id cannot be passed where a variant id is expected.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace cartd {

template <class Tag>
struct strong_id {
  std::string value;
  bool empty() const { return value.empty(); }
  friend bool operator==(const strong_id& a, const strong_id& b) { return a.value == b.value; }
  friend bool operator!=(const strong_id& a, const strong_id& b) { return a.value != b.value; }
  friend bool operator<(const strong_id& a, const strong_id& b) { return a.value < b.value; }
};

using cart_id = strong_id<struct cart_tag>;
using item_id = strong_id<struct item_tag>;
using product_id = strong_id<struct product_tag>;
using variant_id = strong_id<struct variant_tag>;
using user_id = strong_id<struct user_tag>;
using session_id = strong_id<struct session_tag>;

/// A new time-ordered UUID (version 7) in its 36-character text form.
std::string new_uuid_v7(std::int64_t unix_ms);
/// A UUID (version 8, RFC 9562) made from the first 32 hex digits of a digest: the same
/// digest gives the same id (an id tied to an Idempotency-Key, so a retry cannot make a second).
std::string uuid_from_digest(std::string_view hex);
/// True for the 36-character hyphenated UUID text form (any version), lower or upper case.
bool is_uuid(std::string_view s);
/// True for 1–64 characters of [A-Za-z0-9._-]: product and variant ids.
bool is_catalog_id(std::string_view s);
/// Three capital letters, as an ISO 4217 currency code: USD, EUR.
bool is_currency(std::string_view s);
/// An ISO 3166-1 country, optionally with a subdivision: US, US-CA, GB-LND.
bool is_region(std::string_view s);

}  // namespace cartd

template <class Tag>
struct std::hash<cartd::strong_id<Tag>> {
  std::size_t operator()(const cartd::strong_id<Tag>& id) const noexcept {
    return std::hash<std::string>{}(id.value);
  }
};
