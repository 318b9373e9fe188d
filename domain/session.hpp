#pragma once
// A guest (or user-bound) session. Only a hash of its token is ever stored.
#include <cstdint>
#include <string>

namespace cartd {

struct session {
  std::string id;
  std::string token_hash;   ///< hex SHA-256 of the token
  std::string user_id;      ///< empty: a guest
  std::string device_json;  ///< raw JSON object; empty: none
  std::int64_t expires_at_ms = 0;
  std::int64_t created_at_ms = 0;
  bool expired(std::int64_t now_ms) const { return now_ms >= expires_at_ms; }
};

}  // namespace cartd
