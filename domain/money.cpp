#include "domain/money.hpp"

namespace cartd {

namespace {
bool in_range(int128 v) { return v >= -max_amount && v <= max_amount; }
}  // namespace

std::optional<std::int64_t> checked_mul(std::int64_t a, std::int64_t b) {
  int128 r = static_cast<int128>(a) * b;
  if (!in_range(r)) return std::nullopt;
  return static_cast<std::int64_t>(r);
}

std::optional<std::int64_t> checked_add(std::int64_t a, std::int64_t b) {
  int128 r = static_cast<int128>(a) + b;
  if (!in_range(r)) return std::nullopt;
  return static_cast<std::int64_t>(r);
}

std::int64_t round_half_away(int128 num, int128 den) {
  bool negative = num < 0;
  int128 n = negative ? -num : num;
  int128 q = (2 * n + den) / (2 * den);
  return static_cast<std::int64_t>(negative ? -q : q);
}

}  // namespace cartd
