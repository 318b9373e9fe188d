#include "actors/event_relay.hpp"

#include <spdlog/spdlog.h>

#include "actors/log_text.hpp"
#include "actors/metrics.hpp"
#include "persistence/redis_client.hpp"
#include "persistence/store.hpp"

namespace cartd {

namespace {
constexpr int k_batch = 500;
constexpr auto k_idle = std::chrono::milliseconds(50);
}  // namespace

event_relay::event_relay(store& s, const std::string& redis_url, metrics& m)
    : store_(s),
      stats_(m),
      redis_(std::make_unique<redis_connection>(redis_url, std::chrono::milliseconds(500))),
      thread_([this] { run(); }) {}

event_relay::~event_relay() {
  {
    std::lock_guard<std::mutex> guard(mtx_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void event_relay::run() {
  while (true) {
    int n = 0;
    try {
      n = publish_batch();
    } catch (const std::exception& e) {
      // The store is down: events stay in the outbox until it returns.
      stats_.outbox_relay_errors.Increment();
      spdlog::warn(R"({{"msg":"event relay waits","error":{}}})", json_quoted(e.what()));
    }
    std::unique_lock<std::mutex> lock(mtx_);
    if (stop_) {
      lock.unlock();
      try {
        while (publish_batch() == k_batch) {  // flush what is left, if Redis answers
        }
      } catch (const std::exception&) {
      }
      return;
    }
    if (n < k_batch) cv_.wait_for(lock, n == 0 ? k_idle * 2 : k_idle);
  }
}

int event_relay::publish_batch() {
  if (!store_.hold_relay_lease()) {
    relaying_ = false;
    // Another node relays; this one stands by and reports nothing waiting (the relay does), so
    // that a figure from before it lost the lease does not linger in alerts.
    waiting_ = 0;
    stats_.outbox_waiting.Set(0);
    return 0;
  }
  relaying_ = true;
  auto rows = store_.fetch_outbox(k_batch);
  waiting_ = static_cast<std::int64_t>(rows.size());
  stats_.outbox_waiting.Set(static_cast<double>(rows.size()));
  if (rows.empty()) {
    auto pong = redis_->command({"PING"});
    redis_up_ = pong.has_value();
    return 0;
  }
  std::vector<std::vector<std::string>> cmds;
  cmds.reserve(rows.size());
  for (const auto& r : rows) {
    cmds.push_back({"XADD", stream, "MAXLEN", "~", "1000000", "*", "eventId", std::to_string(r.id),
                    "type", r.event.type, "cartId", r.event.cart_id, "payload", r.event.payload});
  }
  auto replies = redis_->pipeline(cmds);
  redis_up_ = replies.has_value();
  if (!replies) {
    stats_.outbox_relay_errors.Increment();
    return 0;  // Redis down: nothing deleted, the same rows go next time, in the same order
  }
  // Only a prefix of replies that all succeeded may be deleted, to keep order per cart.
  std::vector<std::int64_t> done;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if ((*replies)[i].type == redis_value::kind::error) break;
    done.push_back(rows[i].id);
  }
  if (!done.empty()) store_.delete_outbox(done);
  published_ += static_cast<std::int64_t>(done.size());
  stats_.outbox_published.Increment(static_cast<double>(done.size()));
  return static_cast<int>(done.size());
}

}  // namespace cartd
