#include "domain/time.hpp"

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

std::string format_rfc3339(std::int64_t unix_ms) {
  std::int64_t secs = unix_ms / 1000;
  int ms = static_cast<int>(unix_ms % 1000);
  if (ms < 0) {
    ms += 1000;
    secs -= 1;
  }
  std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
  return buf;
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
