#pragma once
// Rate limiting per principal (user, session, or client address) as a token bucket
// (domain/token_bucket.hpp). With Redis: buckets shared by every node
// (persistence/redis_buckets.hpp), decided from one thread that sends all pending decisions in
// one round trip (no Pistache or actor thread waits on Redis). Without Redis, or while it is
// down: an in-process bucket per principal.
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "config/config.hpp"
#include "domain/token_bucket.hpp"

namespace cartd {

class metrics;
class shared_buckets;

class rate_limiter {
 public:
  using decision_fn = std::function<void(bool allowed, int retry_after_s)>;
  rate_limiter(const config& cfg, metrics& m);
  ~rate_limiter();
  rate_limiter(const rate_limiter&) = delete;
  rate_limiter& operator=(const rate_limiter&) = delete;

  /// Decides for one request of `principal`; `then` runs inline (no Redis configured) or on
  /// the limiter thread (Redis configured, up or down).
  void admit(const std::string& principal, decision_fn then);
  /// "off", "local", "redis" or "local (redis down)".
  std::string mode() const;
  /// In-process buckets held now (full ones are swept once a second).
  std::size_t local_buckets();
  bool redis_configured() const { return !redis_url_.empty(); }
  bool redis_up() const { return redis_up_; }

 private:
  struct pending {
    std::string principal;
    decision_fn then;
  };
  bool local_admit(const std::string& principal, int& retry_after_s);
  void run();
  void decide_batch(std::deque<pending>& batch);

  bool enabled_;
  std::int64_t rps_;
  std::int64_t burst_;
  std::string redis_url_;
  metrics& stats_;
  std::atomic<bool> redis_up_{false};

  std::mutex local_mtx_;
  std::unordered_map<std::string, token_bucket> local_;
  std::int64_t last_sweep_ms_ = 0;

  std::mutex mtx_;
  std::condition_variable cv_;
  std::deque<pending> queue_;
  bool stop_ = false;
  std::unique_ptr<shared_buckets> shared_;
  std::thread thread_;
};

}  // namespace cartd
