#include "http/deadlines.hpp"

#include "http/exchange.hpp"

namespace cartd {

deadline_watch::deadline_watch() : thread_([this] { run(); }) {}

deadline_watch::~deadline_watch() {
  {
    std::lock_guard<std::mutex> guard(mtx_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void deadline_watch::watch(const std::shared_ptr<exchange>& ex, std::chrono::milliseconds timeout) {
  std::lock_guard<std::mutex> guard(mtx_);
  queue_.push_back(entry{std::chrono::steady_clock::now() + timeout, ex});
}

void deadline_watch::run() {
  std::unique_lock<std::mutex> lock(mtx_);
  while (!stop_) {
    auto now = std::chrono::steady_clock::now();
    while (!queue_.empty() && queue_.front().deadline <= now) {
      auto ex = queue_.front().ex.lock();
      queue_.pop_front();
      if (!ex) continue;
      lock.unlock();
      ex->fail(make_error(error_code::unavailable, "the cart did not answer in time"));
      lock.lock();
    }
    cv_.wait_for(lock, std::chrono::milliseconds(20));
  }
}

}  // namespace cartd
