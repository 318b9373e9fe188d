#include "domain/ids.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <random>

namespace cartd {

std::string new_uuid_v7(std::int64_t unix_ms) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::array<unsigned char, 16> b{};
  auto ms = static_cast<std::uint64_t>(unix_ms);
  for (int i = 0; i < 6; ++i) b[i] = static_cast<unsigned char>(ms >> (40 - 8 * i));
  std::uint64_t r1 = rng();
  std::uint64_t r2 = rng();
  for (int i = 6; i < 16; ++i) {
    b[i] = static_cast<unsigned char>(i < 14 ? r1 >> (8 * (i - 6)) : r2 >> (8 * (i - 14)));
  }
  b[6] = static_cast<unsigned char>(0x70 | (b[6] & 0x0f));
  b[8] = static_cast<unsigned char>(0x80 | (b[8] & 0x3f));
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(hex[b[i] >> 4]);
    out.push_back(hex[b[i] & 0x0f]);
  }
  return out;
}

std::string uuid_from_digest(std::string_view hex) {
  std::string digits(hex.substr(0, 32));
  digits.resize(32, '0');
  digits[12] = '8';  // version 8: custom
  static constexpr char variant[] = "89ab";
  auto nibble = std::string_view("0123456789abcdef").find(digits[16]);
  digits[16] = variant[(nibble == std::string_view::npos ? 0 : nibble) & 3];
  return digits.substr(0, 8) + "-" + digits.substr(8, 4) + "-" + digits.substr(12, 4) + "-" +
         digits.substr(16, 4) + "-" + digits.substr(20, 12);
}

bool is_currency(std::string_view s) {
  return s.size() == 3 && std::all_of(s.begin(), s.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

bool is_uuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? c != '-' : !std::isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

bool is_region(std::string_view r) {
  if (r.size() < 2 || r.size() > 6 || r.size() == 3) return false;
  for (std::size_t i = 0; i < r.size(); ++i) {
    char c = r[i];
    bool upper = c >= 'A' && c <= 'Z';
    bool digit = c >= '0' && c <= '9';
    if (i < 2 ? !upper : i == 2 ? c != '-' : !(upper || digit)) return false;
  }
  return true;
}

bool is_catalog_id(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace cartd
