#include "actors/cart_lifecycle.hpp"

#include <spdlog/spdlog.h>

#include "actors/log_text.hpp"
#include "actors/metrics.hpp"
#include "domain/time.hpp"
#include "persistence/store.hpp"

namespace cartd {

namespace {
constexpr int k_page = 500;   // carts per store call: short transactions beside the hot path
constexpr int k_steps = 100;  // at most 50 000 carts per sweep; the next sweep goes on from there
}  // namespace

cart_lifecycle::cart_lifecycle(store& s, metrics& m, lifecycle_settings settings)
    : store_(s), stats_(m), settings_(settings), thread_([this] { run(); }) {}

cart_lifecycle::~cart_lifecycle() {
  stopping_ = true;  // a sweep under way stops after its current step
  {
    std::lock_guard<std::mutex> guard(mtx_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

lifecycle_figures cart_lifecycle::figures() const {
  return lifecycle_figures{abandoned_.load(),     reported_.load(),   purged_.load(),
                           sweeps_.load(),        passes_.load(),     failures_.load(),
                           last_sweep_ms_.load(), last_failed_.load()};
}

void cart_lifecycle::sweep() {
  std::lock_guard<std::mutex> one(sweep_mtx_);
  auto started = std::chrono::steady_clock::now();
  try {
    auto now = now_ms();
    auto idle_before = now - settings_.abandon_after.count();
    auto expire_before = now - settings_.expire_after.count();
    // Page through the carts by key from where the last sweep stopped, at most k_steps pages
    // now; a pass over every cart ends when a page comes back short, and sets the gauge.
    for (int step = 0; step < k_steps && !stopping_; ++step) {
      auto s = store_.sweep_carts(cursor_, k_page, idle_before, expire_before,
                                  settings_.with_events, now);
      reported_ += s.reported;
      purged_ += s.purged;
      stats_.carts_abandoned_total.Increment(s.reported);
      stats_.carts_purged_total.Increment(s.purged);
      pass_idle_ += s.idle;
      cursor_ = s.last_id;
      if (s.scanned < k_page) {
        abandoned_ = pass_idle_;
        stats_.carts_abandoned.Set(static_cast<double>(pass_idle_));
        ++passes_;
        pass_idle_ = 0;
        cursor_.clear();
        break;
      }
    }
    ++sweeps_;
    last_sweep_ms_ = now_ms();
    last_failed_ = false;
  } catch (const std::exception& e) {
    // The store is down: the next sweep goes on from the same cart.
    ++failures_;
    last_failed_ = true;
    stats_.lifecycle_failures.Increment();
    spdlog::warn(R"({{"msg":"cart lifecycle sweep failed","error":{}}})", json_quoted(e.what()));
  }
  stats_.lifecycle_sweep_seconds.Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
}

void cart_lifecycle::run() {
  std::unique_lock<std::mutex> lock(mtx_);
  while (!stop_) {
    // The first sweep waits one interval: a node starting does not add a scan to its start.
    cv_.wait_for(lock, settings_.interval, [this] { return stop_; });
    if (stop_) break;
    lock.unlock();
    sweep();
    lock.lock();
  }
}

}  // namespace cartd
