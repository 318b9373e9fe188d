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
class cart_lifecycle;
class checkout_reconciler;

/// Recently resolved session tokens (by token hash), so guest requests skip the store. Entries
/// are dropped when their session is changed or deleted on this node, and live at most
/// `k_session_cache_ms` (another node's revocation is seen within that time).
class session_cache {
 public:
  static constexpr std::int64_t k_session_cache_ms = 5000;
  std::optional<session> get(const std::string& token_hash, std::int64_t now_ms);
  void put(const session& s, std::int64_t now_ms);
  void drop_session(const std::string& session_id);
  std::size_t size();

 private:
  struct entry {
    session value;
    std::int64_t fresh_until_ms;
  };
  std::mutex mtx_;
  std::unordered_map<std::string, entry> by_hash_;
  std::int64_t last_sweep_ms_ = 0;
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
  cart_lifecycle* lifecycle = nullptr;
  checkout_reconciler* reconciler = nullptr;
  /// Set on SIGTERM when http.drain_period > 0: ready answers 503 and every response closes
  /// its connection, so balancers move away while the node still serves.
  std::atomic<bool> draining{false};
  /// Client connections open now, the most allowed (http.max_connections, capped below the
  /// file-descriptor limit) and how many were refused for it.
  std::atomic<int> connections{0};
  int max_connections = 0;
  std::atomic<std::int64_t> connections_refused{0};
};

}  // namespace cartd
