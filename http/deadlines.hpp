#pragma once
// Answers 503 for requests on the fast path (sent straight to an actor, no per-request actor
// and no CAF timer) that are still unanswered at their deadline. One thread, one queue:
// deadlines are appended in arrival order, so the queue is already sorted.
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

namespace cartd {

class exchange;

class deadline_watch {
 public:
  deadline_watch();
  ~deadline_watch();
  deadline_watch(const deadline_watch&) = delete;
  deadline_watch& operator=(const deadline_watch&) = delete;

  void watch(const std::shared_ptr<exchange>& ex, std::chrono::milliseconds timeout);

 private:
  void run();
  struct entry {
    std::chrono::steady_clock::time_point deadline;
    std::weak_ptr<exchange> ex;
  };
  std::mutex mtx_;
  std::condition_variable cv_;
  std::deque<entry> queue_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace cartd
