// Payment webhooks: the Cartd-Signature header parser and the verification that follows it.
// Input: header, a NUL, then the raw body.
#include <cstdint>
#include <string>
#include <string_view>

#include "domain/webhook_signature.hpp"
#include "http/auth.hpp"

using namespace cartd;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto cut = in.find('\0');
  std::string_view header = in.substr(0, cut);
  std::string_view body = cut == std::string_view::npos ? std::string_view{} : in.substr(cut + 1);
  auto parsed = parse_signature_header(header);
  if (!parsed) return 0;
  if (parsed->v1.empty()) __builtin_trap();  // at least one v1, says the contract
  for (const auto& v : parsed->v1)
    if (v.size() != 64) __builtin_trap();
  within_tolerance(parsed->t, 1800000000);
  verify_signature(*parsed, body, parsed->t, [](std::string_view m) {
    return hmac_sha256_hex("whsec_fuzzing", m);
  });
  return 0;
}
