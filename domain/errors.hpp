#pragma once
// One error vocabulary: the machine-readable codes of API.md. http/problem.cpp maps each to a
// status and a problem+json body; nothing else turns errors into HTTP.
#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace cartd {

enum class error_code {
  invalid_json,
  validation_failed,
  unauthorized,
  forbidden,
  not_found,
  method_not_allowed,
  conflict,
  insufficient_stock,
  cart_not_active,
  idempotency_key_in_use,
  cart_limit_exceeded,
  version_mismatch,
  payload_too_large,
  unsupported_media_type,
  idempotency_key_reused,
  unknown_product,
  invalid_discount_code,
  rate_limited,
  internal,
  unavailable,
  cart_changed,
  session_expired,
  price_changed,
  invalid_transition,
  cart_empty,
  payment_declined,
  invalid_signature,
  upstream_timeout,
  currency_mismatch,
  bad_request,        ///< not an HTTP request we can read
  headers_too_large,  ///< request line and headers over the limit
  length_required,    ///< a request body without Content-Length (chunked)
};

struct field_error {
  std::string field;
  std::string message;
  std::string reason = {};  ///< a machine-readable reason (invalid_discount_code); empty: none
};

/// A line that asks for more than is available (`lines` of 409 insufficient_stock).
struct stock_shortfall {
  std::string product_id;
  std::string variant_id;
  std::int64_t requested = 0;
  std::int64_t available = 0;
};

struct domain_error {
  error_code code = error_code::internal;
  std::string detail;
  std::vector<field_error> errors;
  /// Further members of the problem body a program acts on (`lines`, `changes`), each a key
  /// and its JSON value, written as they are.
  std::vector<std::pair<std::string, std::string>> members;
  std::vector<stock_shortfall> shortfalls;  ///< written as `lines` when not empty
};

inline domain_error make_error(error_code code, std::string detail) {
  domain_error e;
  e.code = code;
  e.detail = std::move(detail);
  return e;
}

/// A value or a domain error; the domain's only way to fail.
template <class T>
class result {
 public:
  result(T value) : v_(std::move(value)) {}                   // NOLINT: implicit by design
  result(domain_error error) : v_(std::move(error)) {}        // NOLINT: implicit by design
  [[nodiscard]] bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  T& operator*() { return value(); }
  T* operator->() { return &value(); }
  const domain_error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, domain_error> v_;
};

}  // namespace cartd
