#include "domain/webhook_signature.hpp"

#include <charconv>
#include <limits>

namespace cartd {

namespace {

constexpr std::size_t k_v1_hex_digits = 64;  // SHA-256: 32 bytes

bool is_space(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

char to_lower_ascii(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = to_lower_ascii(c);
  return out;
}

std::optional<std::int64_t> parse_canonical_seconds(std::string_view s) {
  if (s.empty() || s.front() < '0' || s.front() > '9') return std::nullopt;  // no sign
  if (s.size() > 1 && s.front() == '0') return std::nullopt;
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;  // overflow, junk
  return v;
}

bool is_v1_hex(std::string_view s) {
  if (s.size() != k_v1_hex_digits) return false;
  for (char c : s)
    if (!is_hex(c)) return false;
  return true;
}

// now ± tolerance without overflow: the bounds stick at the ends of int64.
std::int64_t saturating_add(std::int64_t a, std::int64_t b) {
  using lim = std::numeric_limits<std::int64_t>;
  if (b > 0 && a > lim::max() - b) return lim::max();
  if (b < 0 && a < lim::min() - b) return lim::min();
  return a + b;
}

}  // namespace

std::optional<signature_header> parse_signature_header(std::string_view header) {
  signature_header out;
  bool have_t = false;
  while (true) {
    const std::size_t comma = header.find(',');
    const std::string_view item = trim(header.substr(0, comma));
    if (!item.empty()) {
      const std::size_t eq = item.find('=');
      if (eq == std::string_view::npos) return std::nullopt;
      const std::string_view key = item.substr(0, eq);
      const std::string_view value = item.substr(eq + 1);
      if (key == "t") {
        auto t = parse_canonical_seconds(value);
        if (have_t || !t) return std::nullopt;  // two t's: which one was signed?
        out.t = *t;
        have_t = true;
      } else if (key == "v1") {
        if (!is_v1_hex(value)) return std::nullopt;
        out.v1.emplace_back(value);
      }
      // Other keys are schemes we do not speak; the provider may add them at any time.
    }
    if (comma == std::string_view::npos) break;
    header.remove_prefix(comma + 1);
  }
  if (!have_t || out.v1.empty()) return std::nullopt;
  return out;
}

bool within_tolerance(std::int64_t t, std::int64_t now_s, std::int64_t tolerance_s) {
  if (tolerance_s < 0) return false;
  return t >= saturating_add(now_s, -tolerance_s) && t <= saturating_add(now_s, tolerance_s);
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    diff |= static_cast<unsigned char>(static_cast<unsigned char>(a[i]) ^
                                       static_cast<unsigned char>(b[i]));
  return diff == 0;
}

bool verify_signature(const signature_header& header, std::string_view raw_body, std::int64_t now_s,
                      const hmac_hex_fn& hmac_hex) {
  if (!hmac_hex || !within_tolerance(header.t, now_s)) return false;
  std::string message = std::to_string(header.t);
  message += '.';
  message.append(raw_body.data(), raw_body.size());
  const std::string expected = lowercase(hmac_hex(message));
  if (expected.size() != k_v1_hex_digits) return false;  // a broken HMAC never says yes
  // Every v1 is compared, so the time taken does not tell which one matched either.
  bool any = false;
  for (const auto& sent : header.v1) any |= constant_time_equal(lowercase(sent), expected);
  return any;
}

}  // namespace cartd
