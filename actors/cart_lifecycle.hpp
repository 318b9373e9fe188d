#pragma once
// The cart lifecycle of DESIGN.md, swept in the background by one thread per node: active
// carts unchanged for `cart.abandon_after` count as abandoned (a gauge, and one
// `cart_abandoned` event per idle spell when events are on); carts of any status unchanged for
// `cart.expire_after` are purged from the store. Each sweep pages through the carts by key
// (at most 50 000 a sweep, going on from there the next time), so the hot path keeps no index
// on the time of the last change. Every node may sweep: the store reports a spell once and a
// purge is idempotent. Blocking store calls stay on this thread.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

namespace cartd {

class metrics;
class store;

struct lifecycle_settings {
  std::chrono::milliseconds abandon_after{24LL * 3600 * 1000};
  std::chrono::milliseconds expire_after{30LL * 24 * 3600 * 1000};
  std::chrono::milliseconds interval{60 * 1000};
  bool with_events = false;  ///< write cart_abandoned to the outbox (only with Redis)
};

/// What /health/detailed shows of the sweeper.
struct lifecycle_figures {
  std::int64_t abandoned = -1;  ///< abandoned carts seen by the last full pass (-1: none yet)
  std::int64_t reported = 0;    ///< idle spells this node reported
  std::int64_t purged = 0;      ///< carts this node purged
  std::int64_t sweeps = 0;
  std::int64_t passes = 0;  ///< full passes over every cart
  std::int64_t failures = 0;
  std::int64_t last_sweep_ms = 0;  ///< when the last good sweep ended (0: none yet)
  bool last_failed = false;        ///< the latest sweep failed (store down)
};

class cart_lifecycle {
 public:
  cart_lifecycle(store& s, metrics& m, lifecycle_settings settings);
  ~cart_lifecycle();
  cart_lifecycle(const cart_lifecycle&) = delete;
  cart_lifecycle& operator=(const cart_lifecycle&) = delete;

  lifecycle_figures figures() const;
  const lifecycle_settings& settings() const { return settings_; }

  /// One sweep, now, on the calling thread (the background thread calls it each interval).
  void sweep();

 private:
  void run();

  store& store_;
  metrics& stats_;
  lifecycle_settings settings_;
  std::atomic<std::int64_t> abandoned_{-1};
  std::atomic<std::int64_t> reported_{0};
  std::atomic<std::int64_t> purged_{0};
  std::atomic<std::int64_t> sweeps_{0};
  std::atomic<std::int64_t> passes_{0};
  std::atomic<std::int64_t> failures_{0};
  std::atomic<std::int64_t> last_sweep_ms_{0};
  std::atomic<bool> last_failed_{false};
  std::mutex sweep_mtx_;  // one sweep at a time; guards the pass below
  std::string cursor_;    // the last cart id of the pass so far (empty: start a pass)
  std::int64_t pass_idle_ = 0;
  std::mutex mtx_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace cartd
