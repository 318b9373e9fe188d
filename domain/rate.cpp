#include "domain/rate.hpp"

namespace cartd {

std::optional<rate> parse_rate(std::string_view text, std::int64_t max_percent) {
  if (text.empty() || text.size() > 16) return std::nullopt;
  std::int64_t whole = 0;
  std::int64_t frac = 0;
  std::size_t i = 0;
  std::size_t int_digits = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    whole = whole * 10 + (text[i] - '0');
    ++i;
    ++int_digits;
  }
  if (int_digits == 0 || int_digits > 9) return std::nullopt;
  if (i < text.size()) {
    if (text[i] != '.') return std::nullopt;
    ++i;
    std::size_t frac_digits = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      if (++frac_digits > 4) return std::nullopt;
      frac = frac * 10 + (text[i] - '0');
      ++i;
    }
    if (frac_digits == 0 || i != text.size()) return std::nullopt;
    for (std::size_t k = frac_digits; k < 4; ++k) frac *= 10;
  }
  rate r{whole * 10'000 + frac};
  if (r.ten_thousandths > max_percent * 10'000) return std::nullopt;
  return r;
}

std::string format_rate(rate r) {
  std::string out = std::to_string(r.ten_thousandths / 10'000);
  auto frac = r.ten_thousandths % 10'000;
  if (frac == 0) return out;
  std::string digits = std::to_string(frac);
  digits.insert(0, 4 - digits.size(), '0');
  while (digits.back() == '0') digits.pop_back();
  return out + "." + digits;
}

}  // namespace cartd
