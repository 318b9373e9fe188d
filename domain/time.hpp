#pragma once
// Wall-clock milliseconds and their RFC 3339 text (UTC, milliseconds), as API.md requires.
#include <cstdint>
#include <string>

namespace cartd {

std::int64_t now_ms();
/// 1700000000123 → "2023-11-14T22:13:20.123Z"
std::string format_rfc3339(std::int64_t unix_ms);

}  // namespace cartd
