#pragma once
// One bounded pool of connections for every kind cartd holds (SQLite, PostgreSQL, Redis, the
// payment provider's HTTP client): at most `max_size` open, an idle one reused when it is still
// healthy, a caller that finds all of them leased waits up to `wait` for one to come back.
// A lease returns its connection when it goes; `discard()` drops a connection that failed
// mid-use. Thread-safe; no framework headers, so any layer below actors/ may use it.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace cartd {

/// What a pool holds and has done, for /health/detailed and /metrics.
struct pool_figures {
  std::string name;
  int max_size = 0;
  int open = 0;  ///< connections open now (leased + idle)
  int idle = 0;
  std::int64_t acquired = 0;  ///< leases handed out
  std::int64_t waited = 0;    ///< leases that had to wait for a connection to come back
  std::int64_t timeouts = 0;  ///< callers that waited `wait` in vain
  int in_use() const { return open - idle; }
};

template <class Conn>
class bounded_pool {
 public:
  using factory = std::function<std::unique_ptr<Conn>()>;
  using health_check = std::function<bool(Conn&)>;

  bounded_pool(std::string name, int max_size, std::chrono::milliseconds wait, factory make,
               health_check healthy = {})
      : name_(std::move(name)),
        max_size_(max_size < 1 ? 1 : max_size),
        wait_(wait),
        make_(std::move(make)),
        healthy_(std::move(healthy)) {}
  bounded_pool(const bounded_pool&) = delete;
  bounded_pool& operator=(const bounded_pool&) = delete;

  class lease {
   public:
    lease(bounded_pool& p, std::unique_ptr<Conn> c) : pool_(&p), c_(std::move(c)) {}
    lease(lease&& o) noexcept : pool_(o.pool_), c_(std::move(o.c_)) { o.pool_ = nullptr; }
    lease& operator=(lease&&) = delete;
    lease(const lease&) = delete;
    lease& operator=(const lease&) = delete;
    ~lease() {
      if (pool_) pool_->release(std::move(c_));
    }
    Conn* operator->() { return c_.get(); }
    Conn& operator*() { return *c_; }
    /// The connection failed mid-use: close it instead of returning it to the pool.
    void discard() { c_.reset(); }

   private:
    bounded_pool* pool_;
    std::unique_ptr<Conn> c_;
  };

  /// A connection, or nothing when none came free within `wait` (or opening one threw: that
  /// exception propagates).
  std::optional<lease> try_acquire() {
    std::unique_lock<std::mutex> lock(mtx_);
    bool waited = false;
    auto deadline = std::chrono::steady_clock::now() + wait_;
    while (true) {
      while (!idle_.empty()) {
        auto c = std::move(idle_.back());
        idle_.pop_back();
        if (!healthy_ || healthy_(*c)) return handed_out(lease(*this, std::move(c)), waited);
        --open_;  // broke while idle
      }
      if (open_ < max_size_) {
        ++open_;
        lock.unlock();
        try {
          auto c = make_();
          lock.lock();
          return handed_out(lease(*this, std::move(c)), waited);
        } catch (...) {
          lock.lock();
          --open_;
          cv_.notify_one();
          throw;
        }
      }
      waited = true;
      if (cv_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() &&
          open_ >= max_size_) {
        ++timeouts_;
        return std::nullopt;
      }
    }
  }

  /// A connection; `Exhausted(message)` is thrown when none came free within `wait`.
  template <class Exhausted>
  lease acquire_or_throw() {
    auto l = try_acquire();
    if (!l) throw Exhausted(name_ + ": no connection free in the pool");
    return std::move(*l);
  }

  pool_figures figures() const {
    std::lock_guard<std::mutex> guard(mtx_);
    return pool_figures{name_, max_size_, open_, static_cast<int>(idle_.size()), acquired_,
                        waited_, timeouts_};
  }

 private:
  lease handed_out(lease l, bool waited) {  // called with mtx_ held
    ++acquired_;
    if (waited) ++waited_;
    return l;
  }

  void release(std::unique_ptr<Conn> c) {
    std::lock_guard<std::mutex> guard(mtx_);
    if (c && (!healthy_ || healthy_(*c))) {
      idle_.push_back(std::move(c));
    } else {
      --open_;
    }
    cv_.notify_one();
  }

  const std::string name_;
  const int max_size_;
  const std::chrono::milliseconds wait_;
  factory make_;
  health_check healthy_;
  mutable std::mutex mtx_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Conn>> idle_;
  int open_ = 0;
  std::int64_t acquired_ = 0;
  std::int64_t waited_ = 0;
  std::int64_t timeouts_ = 0;
};

}  // namespace cartd
