#pragma once
// Wall-clock milliseconds and their RFC 3339 text (UTC, milliseconds), as API.md requires.
#include <cstdint>
#include <optional>
#include <string>

namespace cartd {

std::int64_t now_ms();
/// 1700000000123 → "2023-11-14T22:13:20.123Z"
std::string format_rfc3339(std::int64_t unix_ms);

}  // namespace cartd

namespace cartd {
/// "2026-11-24T15:00:00Z" or with milliseconds or an offset of +00:00 → unix ms; nothing when
/// the text is not RFC 3339 UTC.
std::optional<std::int64_t> parse_rfc3339(const std::string& text);
}  // namespace cartd
