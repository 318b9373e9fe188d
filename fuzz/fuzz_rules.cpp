// Stored pricing rules (persistence/pricing_codec.hpp): discounts, tax rates and shipping
// methods are decoded from the JSON the store keeps. The first byte picks the kind.
#include <cstdint>
#include <string>

#include "persistence/pricing_codec.hpp"
#include "persistence/store.hpp"

using namespace cartd;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  pricing_rule r;
  r.id = "r1";
  r.code = (data[0] & 0x10) ? "save10" : "";
  r.body.assign(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0: r.kind = "discount"; decode_discount(r); break;
    case 1: r.kind = "tax"; decode_tax_rate(r); break;
    default: r.kind = "shipping"; decode_shipping_method(r); break;
  }
  return 0;
}
