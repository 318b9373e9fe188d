#include "actors/cart_lifecycle.hpp"

#include <spdlog/spdlog.h>

#include "actors/metrics.hpp"
#include "domain/time.hpp"
#include "persistence/store.hpp"

namespace cartd {

namespace {
constexpr int k_batch = 500;   // carts per store call: short transactions beside the hot path
constexpr int k_rounds = 40;   // at most 20 000 carts of each kind per sweep; the next goes on
}  // namespace

cart_lifecycle::cart_lifecycle(store& s, metrics& m, lifecycle_settings settings)
    : store_(s), stats_(m), settings_(settings), thread_([this] { run(); }) {}

cart_lifecycle::~cart_lifecycle() {
  {
    std::lock_guard<std::mutex> guard(mtx_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

lifecycle_figures cart_lifecycle::figures() const {
  return lifecycle_figures{abandoned_.load(), reported_.load(), purged_.load(),
                           sweeps_.load(),    failures_.load(), last_sweep_ms_.load(),
                           last_failed_.load()};
}

void cart_lifecycle::sweep() {
  std::lock_guard<std::mutex> one(sweep_mtx_);
  auto started = std::chrono::steady_clock::now();
  try {
    auto now = now_ms();
    auto idle_before = now - settings_.abandon_after.count();
    for (int round = 0; round < k_rounds; ++round) {
      int n = store_.report_abandoned_carts(idle_before, k_batch, settings_.with_events, now);
      reported_ += n;
      stats_.carts_abandoned_total.Increment(n);
      if (n < k_batch) break;
    }
    auto expired_before = now - settings_.expire_after.count();
    for (int round = 0; round < k_rounds; ++round) {
      int n = store_.purge_carts(expired_before, k_batch);
      purged_ += n;
      stats_.carts_purged_total.Increment(n);
      if (n < k_batch) break;
    }
    auto abandoned = store_.count_idle_carts(idle_before);
    abandoned_ = abandoned;
    stats_.carts_abandoned.Set(static_cast<double>(abandoned));
    ++sweeps_;
    last_sweep_ms_ = now_ms();
    last_failed_ = false;
  } catch (const std::exception& e) {
    // The store is down: the next sweep picks up where this one stopped.
    ++failures_;
    last_failed_ = true;
    stats_.lifecycle_failures.Increment();
    spdlog::warn(R"({{"msg":"cart lifecycle sweep failed","error":"{}"}})", e.what());
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
