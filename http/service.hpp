#pragma once
// What route handlers need from the node, built once by the composition root.
#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "actors/metrics.hpp"
#include "config/config.hpp"
#include "domain/session.hpp"
#include "http/auth.hpp"
#include "http/deadlines.hpp"
#include "http/rate_limiter.hpp"

namespace cartd {

class node_runtime;
class event_relay;

/// Recently resolved session tokens (by token hash), so guest requests skip the store. Entries
/// are dropped when their session is changed or deleted on this node, and expire on their own.
class session_cache {
 public:
  std::optional<session> get(const std::string& token_hash, std::int64_t now_ms);
  void put(const session& s);
  void drop_session(const std::string& session_id);

 private:
  std::mutex mtx_;
  std::unordered_map<std::string, session> by_hash_;
};

struct service {
  node_runtime& runtime;
  const config& cfg;
  metrics& stats;
  jwt_settings jwt;
  session_cache sessions;
  std::int64_t started_ms = 0;
  std::string boot_id;  ///< this process; claims of an earlier process are abandoned
  std::atomic<int> in_flight{0};
  deadline_watch deadlines;
  std::unique_ptr<rate_limiter> limiter;
  event_relay* relay = nullptr;  ///< set when Redis is configured
};

}  // namespace cartd
