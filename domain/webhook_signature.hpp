#pragma once
// The payment provider's webhook signature (API.md, Payments):
//   Cartd-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>…]
// where each v1 is HMAC-SHA256 over the bytes "<t>.<raw request body>". Parsing and checking are
// pure; the HMAC itself is passed in, so domain/ needs no crypto library and tests need no key.
// Several v1 are allowed because the provider signs with the old and the new secret while ours
// is rotated; any one matching is enough.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cartd {

struct signature_header {
  std::int64_t t = 0;           ///< unix seconds, as signed
  std::vector<std::string> v1;  ///< each 64 hex digits, as sent (either case)
};

/// Items are `key=value`, separated by commas, with spaces or tabs allowed around each item.
/// `t` is required once, in canonical decimal (digits only, no sign, no leading zero, so that
/// "<t>" re-formatted is the bytes that were signed). At least one `v1` is required and every
/// `v1` must be exactly 64 hex digits. Other keys (`v0`, future schemes) are ignored, and so are
/// empty items. Anything else — an item without `=`, a second `t` — is nothing: the route
/// answers 400 invalid_signature without computing an HMAC.
std::optional<signature_header> parse_signature_header(std::string_view header);

/// |now_s - t| <= tolerance_s, in both directions: a replayed old event and one stamped in the
/// future (a clock skewed or forged) are refused alike. Safe for any int64 input.
bool within_tolerance(std::int64_t t, std::int64_t now_s, std::int64_t tolerance_s = 300);

/// Equal bytes, reading every byte whatever the content, so that the time taken says nothing
/// about how much of a forged signature was right. Different lengths answer false at once: the
/// length of a signature is public.
bool constant_time_equal(std::string_view a, std::string_view b);

/// Lowercase hex HMAC-SHA256 of `message` keyed with `payments.webhook_secret`.
using hmac_hex_fn = std::function<std::string(std::string_view message)>;

/// True when `t` is within 300 s of `now_s` and any v1, lowercased, equals
/// hmac_hex("<t>.<raw_body>") in constant time. The HMAC is computed once, not per v1.
bool verify_signature(const signature_header& header, std::string_view raw_body, std::int64_t now_s,
                      const hmac_hex_fn& hmac_hex);

}  // namespace cartd
