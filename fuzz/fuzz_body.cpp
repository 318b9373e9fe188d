// Request bodies: every route reads its body through body_reader (http/json.hpp); this drives
// each accessor the routes use, with their bounds, over one input, and the canonical form that
// Idempotency-Key compares. The first byte picks which route's fields are read.
#include <cstdint>
#include <string_view>

#include "http/json.hpp"

using namespace cartd;

namespace {

void read_cart(body_reader& b) {  // POST /cart, PATCH /cart/{id}
  b.string("currency", false, 3, 3);
  b.string("region", false, 2, 6);
  b.string_array("discountCodes", false, 20, 64);
  b.string("shippingMethod", false, 1, 64);
  b.object_json("metadata", false, 4096);
  b.is_null("metadata");
}
void read_items(body_reader& b) {  // POST /cart/{id}/items, PATCH .../items/{itemId}
  b.string("productId", true, 1, 64);
  b.string("variantId", true, 1, 64);
  b.integer("quantity", true, 0, 999);
}
void read_merge(body_reader& b) {
  b.string("sourceCartId", true, 36, 36);
  b.string("strategy", false, 1, 16);
}
void read_session(body_reader& b) {
  b.string("userId", false, 1, 128);
  b.string_map("deviceInfo", false, 20, 256);
}
void read_discount(body_reader& b) {
  b.string("code", false, 1, 64);
  b.string("type", true, 1, 16);
  b.string("percent", false, 1, 16);
  b.integer("amount", false, 0, INT64_MAX);
  b.integer("minSubtotal", false, 0, INT64_MAX);
  b.string_array("productIds", false, 100, 64);
  b.string("startsAt", false, 1, 40);
  b.string("endsAt", false, 1, 40);
  b.integer("usageLimit", false, 1, INT32_MAX);
  b.integer("priority", false, INT32_MIN, INT32_MAX);
  b.boolean("active", false);
  b.members();
}
void read_quote(body_reader& b) {
  b.string("currency", true, 3, 3);
  b.string("region", false, 2, 6);
  for (auto& item : b.objects("items", true, 1, 100)) read_items(*item);
  b.string_array("discountCodes", false, 20, 64);
}
void read_checkout(body_reader& b) {
  b.string("email", false, 3, 254);
  b.string("shippingMethod", false, 1, 64);
  if (auto raw = b.object_json("shippingAddress", false, 4096)) {
    body_reader a(*raw);
    for (const char* k : {"name", "line1", "line2", "city", "postalCode", "region", "country"})
      a.string(k, false, 0, 200);
  }
  if (auto raw = b.object_json("payment", false, 4096)) {
    body_reader p(*raw);
    p.string("token", false, 1, 256);
  }
}
void read_webhook(body_reader& b) {
  b.string("id", true, 1, 128);
  b.string("type", true, 1, 64);
  if (auto raw = b.object_json("data", false, 65536)) {
    body_reader d(*raw);
    d.string("paymentId", false, 1, 128);
    d.string("checkoutSessionId", false, 1, 64);
    d.integer("amount", false, 0, INT64_MAX);
    d.string("currency", false, 3, 3);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  canonical_json(body);
  body_reader b(body, data[0] & 0x80);
  if (b.error()) return 0;
  switch (data[0] % 8) {
    case 0: read_cart(b); break;
    case 1: read_items(b); break;
    case 2: read_merge(b); break;
    case 3: read_session(b); break;
    case 4: read_discount(b); break;
    case 5: read_quote(b); break;
    case 6: read_checkout(b); break;
    default: read_webhook(b); break;
  }
  b.validation_error();
  return 0;
}
