#pragma once
// A percentage with up to 4 decimals, held exactly as an integer of 1/10 000 percent:
// "8.875" is 88 750. Parsed from decimal text, never through a float.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cartd {

struct rate {
  std::int64_t ten_thousandths = 0;  ///< percent × 10 000
  friend bool operator==(rate a, rate b) { return a.ten_thousandths == b.ten_thousandths; }
};

/// "8.875", "10", "0.0001", "100"; nothing for "8.8.8", "-1", "1e3", "12.34567", "" or values
/// above `max_percent`.
std::optional<rate> parse_rate(std::string_view text, std::int64_t max_percent = 100);
/// The shortest exact text: 88 750 → "8.875".
std::string format_rate(rate r);

}  // namespace cartd
