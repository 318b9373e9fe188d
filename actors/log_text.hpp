#pragma once
// Log lines are JSON objects, one per line: text that comes from elsewhere (an exception's
// message, a driver's error) goes in as a quoted, escaped JSON string.
#include <cstdio>
#include <string>
#include <string_view>

namespace cartd {

inline std::string json_quoted(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (u < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", u);
      out += buf;
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
  return out;
}

}  // namespace cartd
