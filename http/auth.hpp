#pragma once
// Identity: HS256 JWT validation and minting, token hashing, random tokens.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace cartd {

struct jwt_settings {
  std::string secret;
  std::string issuer;    ///< checked when set
  std::string audience;  ///< checked when set
  std::int64_t skew_s = 60;
};

struct jwt_claims {
  bool ok = false;
  std::string reason;  ///< why it was refused (for the log, and the 401 detail)
  std::string sub;
  bool admin = false;
  std::int64_t valid_until_s = 0;  ///< exp plus the allowed skew
};

jwt_claims verify_jwt(std::string_view token, const jwt_settings& s, std::int64_t now_s);
/// verify_jwt with a small per-thread cache of accepted tokens (a client sends the same token
/// on every request); an entry is used only until the token's own expiry.
jwt_claims verify_jwt_cached(std::string_view token, const jwt_settings& s, std::int64_t now_s);
std::string mint_jwt(const jwt_settings& s, const std::string& sub,
                     const std::vector<std::string>& roles, std::int64_t ttl_s,
                     std::int64_t now_s);

/// Base64url without padding (RFC 4648 §5), and back (false on a character outside it).
std::string b64url_encode(std::string_view in);
bool b64url_decode(std::string_view in, std::string& out);

std::string sha256_hex(std::string_view data);
/// Lowercase hex of HMAC-SHA256(key, data): payment webhook signatures.
std::string hmac_sha256_hex(std::string_view key, std::string_view data);
/// `bytes` random bytes from the OS CSPRNG, base64url without padding.
std::string random_token(std::size_t bytes);

}  // namespace cartd
