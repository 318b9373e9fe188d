// Bearer tokens: the HS256 JWT parser (header, payload, signature, claims) and base64url.
#include <cstdint>
#include <string>
#include <string_view>

#include "http/auth.hpp"

using namespace cartd;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view token(reinterpret_cast<const char*>(data), size);
  static const jwt_settings plain{"fuzzing-secret-0123456789abcdef", "", "", 60};
  static const jwt_settings checked{"fuzzing-secret-0123456789abcdef", "cartd", "shop", 60};
  auto a = verify_jwt(token, plain, 1800000000);
  auto b = verify_jwt(token, checked, 1800000000);
  if (b.ok && !a.ok) __builtin_trap();  // stricter settings never accept more
  // What decodes re-encodes to text that decodes to the same bytes (unused trailing bits of
  // the last character are ignored, as RFC 4648 allows).
  std::string out, again;
  if (b64url_decode(token, out) && (!b64url_decode(b64url_encode(out), again) || again != out))
    __builtin_trap();
  return 0;
}
