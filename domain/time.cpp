#include "domain/time.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cctype>
#include <ctime>

namespace cartd {

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

namespace {

/// Proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's civil_from_days).
void civil_from_days(std::int64_t z, int& y, int& m, int& d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);                    // [0, 146096]
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;  // [0, 399]
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);                // [0, 365]
  const unsigned mp = (5 * doy + 2) / 153;                                     // [0, 11]
  d = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  y = static_cast<int>(static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2));
}

char* digits(char* out, int v, int width) {
  for (int i = width - 1; i >= 0; --i) {
    out[i] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
  return out + width;
}

}  // namespace

// Every cart reply renders two to three of these per line: plain arithmetic, not gmtime_r
// (glibc takes its time-zone lock even for UTC) and snprintf (a profile of add-item: 2 % of
// the server's CPU).
std::string format_rfc3339(std::int64_t unix_ms) {
  // RFC 3339 has four year digits: an instant outside 0000-01-01 .. 9999-12-31 is written as
  // the nearest one inside (clamping the instant, not just its year, keeps the date real).
  constexpr std::int64_t k_first_ms = -62167219200000;  // 0000-01-01T00:00:00.000Z
  constexpr std::int64_t k_last_ms = 253402300799999;   // 9999-12-31T23:59:59.999Z
  unix_ms = std::clamp(unix_ms, k_first_ms, k_last_ms);
  std::int64_t secs = unix_ms / 1000;
  int ms = static_cast<int>(unix_ms % 1000);
  if (ms < 0) {
    ms += 1000;
    secs -= 1;
  }
  std::int64_t days = secs / 86400;
  std::int64_t rem = secs % 86400;
  if (rem < 0) {
    rem += 86400;
    days -= 1;
  }
  int y = 0, mo = 0, d = 0;
  civil_from_days(days, y, mo, d);
  char buf[24];
  char* p = digits(buf, y, 4);
  *p++ = '-';
  p = digits(p, mo, 2);
  *p++ = '-';
  p = digits(p, d, 2);
  *p++ = 'T';
  p = digits(p, static_cast<int>(rem / 3600), 2);
  *p++ = ':';
  p = digits(p, static_cast<int>(rem / 60 % 60), 2);
  *p++ = ':';
  p = digits(p, static_cast<int>(rem % 60), 2);
  *p++ = '.';
  p = digits(p, ms, 3);
  *p++ = 'Z';
  return std::string(buf, static_cast<std::size_t>(p - buf));
}

}  // namespace cartd

namespace cartd {

std::optional<std::int64_t> parse_rfc3339(const std::string& t) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  char sep = 0;
  int consumed = 0;
  if (std::sscanf(t.c_str(), "%4d-%2d-%2d%c%2d:%2d:%2d%n", &y, &mo, &d, &sep, &h, &mi, &s,
                  &consumed) != 7 || consumed != 19)
    return std::nullopt;
  if ((sep != 'T' && sep != 't') || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
      s > 60)
    return std::nullopt;
  std::size_t i = 19;
  std::int64_t ms = 0;
  if (i < t.size() && t[i] == '.') {
    ++i;
    int digits = 0;
    while (i < t.size() && std::isdigit(static_cast<unsigned char>(t[i]))) {
      if (digits < 3) ms = ms * 10 + (t[i] - '0');
      ++digits;
      ++i;
    }
    if (digits == 0) return std::nullopt;
    for (int k = digits; k < 3; ++k) ms *= 10;
  }
  // Any RFC 3339 offset: Z, or ±hh:mm (normalised to UTC below).
  std::string zone = t.substr(i);
  std::int64_t offset_min = 0;
  if (zone != "Z" && zone != "z") {
    if (zone.size() != 6 || (zone[0] != '+' && zone[0] != '-') || zone[3] != ':' ||
        !std::isdigit(static_cast<unsigned char>(zone[1])) ||
        !std::isdigit(static_cast<unsigned char>(zone[2])) ||
        !std::isdigit(static_cast<unsigned char>(zone[4])) ||
        !std::isdigit(static_cast<unsigned char>(zone[5])))
      return std::nullopt;
    int oh = (zone[1] - '0') * 10 + (zone[2] - '0');
    int om = (zone[4] - '0') * 10 + (zone[5] - '0');
    if (oh > 23 || om > 59) return std::nullopt;
    offset_min = (zone[0] == '-' ? -1 : 1) * (oh * 60 + om);
  }
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  std::int64_t secs = static_cast<std::int64_t>(timegm(&tm));
  return (secs - offset_min * 60) * 1000 + ms;
}

}  // namespace cartd
