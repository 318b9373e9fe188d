#pragma once
// Publishes the outbox to the Redis stream `cartd:events` (XADD), oldest first, then deletes
// what was published: at least once, in order per cart (a cart's events enter the outbox in
// its commit order, and the relay always takes the oldest rows). While Redis is down, events
// wait in the outbox. One dedicated thread; blocking store and Redis calls stay on it.
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace cartd {

class metrics;
class store;
class redis_connection;

class event_relay {
 public:
  event_relay(store& s, const std::string& redis_url, metrics& m);
  ~event_relay();
  event_relay(const event_relay&) = delete;
  event_relay& operator=(const event_relay&) = delete;

  std::int64_t published() const { return published_; }
  std::int64_t waiting() const { return waiting_; }
  bool redis_up() const { return redis_up_; }
  bool relaying() const { return relaying_; }
  static constexpr const char* stream = "cartd:events";

 private:
  void run();
  /// One round: returns how many events were published.
  int publish_batch();

  store& store_;
  metrics& stats_;
  std::unique_ptr<redis_connection> redis_;
  std::atomic<std::int64_t> published_{0};
  std::atomic<std::int64_t> waiting_{0};
  std::atomic<bool> redis_up_{false};
  std::atomic<bool> relaying_{false};
  std::mutex mtx_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace cartd
