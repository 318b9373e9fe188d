#include "http/problem.hpp"

#include "http/json.hpp"

namespace cartd {

namespace {

struct error_info {
  error_code code;
  int status;
  const char* name;
  const char* title;
};

constexpr error_info k_errors[] = {
    {error_code::invalid_json, 400, "invalid_json", "Invalid JSON"},
    {error_code::validation_failed, 400, "validation_failed", "Validation failed"},
    {error_code::unauthorized, 401, "unauthorized", "Unauthorized"},
    {error_code::forbidden, 403, "forbidden", "Forbidden"},
    {error_code::not_found, 404, "not_found", "Not found"},
    {error_code::method_not_allowed, 405, "method_not_allowed", "Method not allowed"},
    {error_code::conflict, 409, "conflict", "Conflict"},
    {error_code::insufficient_stock, 409, "insufficient_stock", "Insufficient stock"},
    {error_code::cart_not_active, 409, "cart_not_active", "Cart not active"},
    {error_code::idempotency_key_in_use, 409, "idempotency_key_in_use",
     "Idempotency key in use"},
    {error_code::cart_limit_exceeded, 409, "cart_limit_exceeded", "Cart limit exceeded"},
    {error_code::version_mismatch, 412, "version_mismatch", "Version mismatch"},
    {error_code::payload_too_large, 413, "payload_too_large", "Payload too large"},
    {error_code::unsupported_media_type, 415, "unsupported_media_type",
     "Unsupported media type"},
    {error_code::idempotency_key_reused, 422, "idempotency_key_reused",
     "Idempotency key reused"},
    {error_code::unknown_product, 422, "unknown_product", "Unknown product"},
    {error_code::invalid_discount_code, 422, "invalid_discount_code", "Invalid discount code"},
    {error_code::rate_limited, 429, "rate_limited", "Rate limited"},
    {error_code::cart_changed, 409, "cart_changed", "Cart changed"},
    {error_code::session_expired, 409, "session_expired", "Checkout session expired"},
    {error_code::price_changed, 409, "price_changed", "Price changed"},
    {error_code::invalid_transition, 409, "invalid_transition", "Invalid transition"},
    {error_code::cart_empty, 409, "cart_empty", "Cart empty"},
    {error_code::payment_declined, 402, "payment_declined", "Payment declined"},
    {error_code::invalid_signature, 400, "invalid_signature", "Invalid signature"},
    {error_code::upstream_timeout, 504, "upstream_timeout", "Upstream timeout"},
    {error_code::currency_mismatch, 409, "currency_mismatch", "Currency mismatch"},
    {error_code::bad_request, 400, "bad_request", "Bad request"},
    {error_code::headers_too_large, 431, "headers_too_large", "Request header fields too large"},
    {error_code::length_required, 411, "length_required", "Length required"},
    {error_code::internal, 500, "internal", "Internal error"},
    {error_code::unavailable, 503, "unavailable", "Service unavailable"},
};

const error_info& info(error_code code) {
  for (const auto& e : k_errors)
    if (e.code == code) return e;
  for (const auto& e : k_errors)
    if (e.code == error_code::internal) return e;
  return k_errors[0];
}

}  // namespace

int http_status(error_code code) { return info(code).status; }
const char* code_name(error_code code) { return info(code).name; }

std::string problem_body(const domain_error& e, std::string_view instance,
                         std::string_view request_id) {
  const auto& i = info(e.code);
  json_writer w;
  w.begin_object();
  w.field("type", std::string("urn:cartd:error:") + i.name);
  w.field("title", i.title);
  w.field("status", i.status);
  w.field("code", i.name);
  if (e.code == error_code::upstream_timeout) {
    w.field("detail", "the payment provider did not answer in time; nothing was charged, retry");
  } else if (i.status >= 500) {
    w.field("detail", e.code == error_code::unavailable
                          ? "the service cannot answer right now; retry later"
                          : "an internal error occurred; quote the requestId when reporting it");
  } else if (!e.detail.empty()) {
    w.field("detail", e.detail);
  }
  w.field("instance", instance);
  w.field("requestId", request_id);
  if (!e.errors.empty()) {
    w.key("errors").begin_array();
    for (const auto& fe : e.errors) {
      w.begin_object().field("field", fe.field);
      if (!fe.reason.empty()) w.field("reason", fe.reason);
      w.field("message", fe.message).end_object();
    }
    w.end_array();
  }
  if (!e.shortfalls.empty()) {
    w.key("lines").begin_array();
    for (const auto& s : e.shortfalls) {
      w.begin_object()
          .field("productId", s.product_id)
          .field("variantId", s.variant_id)
          .field("requested", s.requested)
          .field("available", s.available)
          .end_object();
    }
    w.end_array();
  }
  for (const auto& [k, v] : e.members) {
    w.key(k);
    w.raw_or_null(v);
  }
  w.end_object();
  return w.str();
}

}  // namespace cartd
