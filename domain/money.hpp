#pragma once
// Money is an integer count of minor units (1999 = 19.99 USD). Never a float.
#include <cstdint>
#include <optional>

namespace cartd {

__extension__ typedef __int128 int128;

/// Largest amount we accept anywhere (10^15 minor units): far above any cart, far below
/// int64 overflow even after multiplying by a quantity.
inline constexpr std::int64_t max_amount = 1'000'000'000'000'000;

/// a * b, or nothing when the result leaves [-max_amount, max_amount].
std::optional<std::int64_t> checked_mul(std::int64_t a, std::int64_t b);
/// a + b, or nothing when the result leaves [-max_amount, max_amount].
std::optional<std::int64_t> checked_add(std::int64_t a, std::int64_t b);

/// num / den rounded half away from zero; the single rounding function of cartd. den > 0.
std::int64_t round_half_away(int128 num, int128 den);

}  // namespace cartd
