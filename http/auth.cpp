#include "http/auth.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <simdjson.h>

#include <stdexcept>
#include <unordered_map>

#include "http/json.hpp"

namespace cartd {

namespace {

std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &len);
  return std::string(reinterpret_cast<char*>(mac), len);
}

jwt_claims refuse(std::string reason) {
  jwt_claims c;
  c.reason = std::move(reason);
  return c;
}

bool audience_matches(simdjson::dom::element aud, const std::string& want) {
  std::string_view sv;
  if (!aud.get_string().get(sv)) return sv == want;
  simdjson::dom::array arr;
  if (aud.get_array().get(arr)) return false;
  for (auto a : arr)
    if (!a.get_string().get(sv) && sv == want) return true;
  return false;
}

}  // namespace

namespace {
constexpr char k_b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
}  // namespace

std::string b64url_encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : in) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(k_b64url[(acc >> bits) & 0x3f]);
    }
  }
  if (bits > 0) out.push_back(k_b64url[(acc << (6 - bits)) & 0x3f]);
  return out;
}

bool b64url_decode(std::string_view in, std::string& out) {
  out.clear();
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = -1;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    else if (c >= '0' && c <= '9') v = c - '0' + 52;
    else if (c == '-') v = 62;
    else if (c == '_') v = 63;
    else return false;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return true;
}

jwt_claims verify_jwt(std::string_view token, const jwt_settings& s, std::int64_t now_s) {
  auto dot1 = token.find('.');
  auto dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos)
    return refuse("malformed token");
  std::string header, payload, sig;
  if (!b64url_decode(token.substr(0, dot1), header) ||
      !b64url_decode(token.substr(dot1 + 1, dot2 - dot1 - 1), payload) ||
      !b64url_decode(token.substr(dot2 + 1), sig))
    return refuse("malformed token encoding");
  // One parser per thread: building one allocates, and tokens are checked on every request.
  thread_local simdjson::dom::parser hp;
  thread_local simdjson::dom::parser pp;
  simdjson::dom::element h;
  std::string_view alg;
  if (hp.parse(header).get(h) || h["alg"].get_string().get(alg)) return refuse("malformed header");
  if (alg != "HS256") return refuse("algorithm not accepted");
  std::string expected = hmac_sha256(s.secret, token.substr(0, dot2));
  if (sig.size() != expected.size() || CRYPTO_memcmp(sig.data(), expected.data(), sig.size()) != 0)
    return refuse("bad signature");
  simdjson::dom::element p;
  if (pp.parse(payload).get(p) || !p.is_object()) return refuse("malformed claims");
  jwt_claims out;
  std::string_view sub;
  if (p["sub"].get_string().get(sub) || sub.empty() || sub.size() > 255)
    return refuse("sub missing");
  std::int64_t exp = 0;
  simdjson::dom::element exp_el;
  if (p["exp"].get(exp_el) || !exp_el.is_number()) return refuse("exp missing");
  exp = exp_el.is_int64() ? exp_el.get_int64().value() : static_cast<std::int64_t>(exp_el.get_double().value());
  if (now_s > exp + s.skew_s) return refuse("token expired");
  out.valid_until_s = exp + s.skew_s;
  simdjson::dom::element nbf_el;
  if (!p["nbf"].get(nbf_el) && nbf_el.is_number()) {
    auto nbf = nbf_el.is_int64() ? nbf_el.get_int64().value()
                                 : static_cast<std::int64_t>(nbf_el.get_double().value());
    if (now_s + s.skew_s < nbf) return refuse("token not yet valid");
  }
  if (!s.issuer.empty()) {
    std::string_view iss;
    if (p["iss"].get_string().get(iss) || iss != s.issuer) return refuse("wrong issuer");
  }
  if (!s.audience.empty()) {
    simdjson::dom::element aud;
    if (p["aud"].get(aud) || !audience_matches(aud, s.audience)) return refuse("wrong audience");
  }
  simdjson::dom::array roles;
  if (!p["roles"].get_array().get(roles)) {
    for (auto r : roles) {
      std::string_view role;
      if (!r.get_string().get(role) && role == "admin") out.admin = true;
    }
  }
  out.ok = true;
  out.sub = std::string(sub);
  return out;
}

jwt_claims verify_jwt_cached(std::string_view token, const jwt_settings& s, std::int64_t now_s) {
  constexpr std::size_t k_max_entries = 4096;
  thread_local std::unordered_map<std::string, jwt_claims> accepted;
  thread_local const jwt_settings* settings = nullptr;
  if (settings != &s) {  // another configuration (tests build several): start afresh
    accepted.clear();
    settings = &s;
  }
  std::string key(token);
  auto it = accepted.find(key);
  if (it != accepted.end()) {
    if (now_s <= it->second.valid_until_s) return it->second;
    accepted.erase(it);
  }
  auto claims = verify_jwt(token, s, now_s);
  if (claims.ok) {
    if (accepted.size() >= k_max_entries) accepted.clear();
    accepted.emplace(std::move(key), claims);
  }
  return claims;
}

std::string mint_jwt(const jwt_settings& s, const std::string& sub,
                     const std::vector<std::string>& roles, std::int64_t ttl_s,
                     std::int64_t now_s) {
  json_writer claims;
  claims.begin_object().field("sub", sub).field("iat", now_s).field("exp", now_s + ttl_s);
  if (!s.issuer.empty()) claims.field("iss", s.issuer);
  if (!s.audience.empty()) claims.field("aud", s.audience);
  claims.key("roles").begin_array();
  for (const auto& r : roles) claims.value(r);
  claims.end_array().end_object();
  std::string signing =
      b64url_encode(R"({"alg":"HS256","typ":"JWT"})") + "." + b64url_encode(claims.str());
  return signing + "." + b64url_encode(hmac_sha256(s.secret, signing));
}

std::string sha256_hex(std::string_view data) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), md);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * SHA256_DIGEST_LENGTH);
  for (unsigned char c : md) {
    out.push_back(hex[c >> 4]);
    out.push_back(hex[c & 0x0f]);
  }
  return out;
}

std::string random_token(std::size_t bytes) {
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1)
    throw std::runtime_error("no randomness available");
  return b64url_encode(raw);
}

std::string hmac_sha256_hex(std::string_view key, std::string_view data) {
  static const char* digits = "0123456789abcdef";
  std::string mac = hmac_sha256(key, data);
  std::string out;
  out.reserve(mac.size() * 2);
  for (unsigned char c : mac) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

}  // namespace cartd
