// The pricing bulkhead on a real actor system: fixed workers, a bounded queue, refusals counted,
// and every admitted job run exactly once.
#include <caf/all.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "actors/metrics.hpp"
#include "actors/pricing_pool.hpp"

namespace cartd {
namespace {

using namespace std::chrono_literals;

/// A gate the jobs wait on, so the test decides when workers are busy (no sleeps, no timing).
struct gate {
  std::mutex mtx;
  std::condition_variable cv;
  bool open = false;
  int waiting = 0;
  void pass() {
    std::unique_lock<std::mutex> lock(mtx);
    ++waiting;
    cv.notify_all();
    cv.wait(lock, [this] { return open; });
  }
  void wait_for_waiting(int n) {
    std::unique_lock<std::mutex> lock(mtx);
    cv.wait(lock, [&] { return waiting >= n; });
  }
  void release() {
    std::lock_guard<std::mutex> guard(mtx);
    open = true;
    cv.notify_all();
  }
};

class pricing_bulkhead : public ::testing::Test {
 protected:
  caf::actor_system_config cfg_;
  caf::actor_system sys_{cfg_};
  metrics stats_;
};

TEST_F(pricing_bulkhead, refuses_beyond_workers_plus_queue_and_runs_every_admitted_job) {
  pricing_pool pool(sys_, stats_, 2, 3);
  gate g;
  std::atomic<int> ran{0};
  auto job = [&] {
    g.pass();
    ran++;
  };
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(pool.submit(job));
  g.wait_for_waiting(2);  // both workers hold a job
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(pool.submit(job)) << "queue slot " << i;
  EXPECT_FALSE(pool.submit(job));
  EXPECT_FALSE(pool.submit(job));
  auto f = pool.figures();
  EXPECT_EQ(f.workers, 2);
  EXPECT_EQ(f.queue_max, 3);
  EXPECT_EQ(f.in_flight, 2);
  EXPECT_EQ(f.queued, 3);
  EXPECT_EQ(f.rejected, 2);
  EXPECT_EQ(stats_.pricing_rejected.Value(), 2);
  EXPECT_EQ(stats_.pricing_in_flight.Value(), 2);
  EXPECT_EQ(stats_.pricing_queued.Value(), 3);

  g.release();
  while (pool.figures().completed < 5) std::this_thread::yield();
  EXPECT_EQ(ran.load(), 5);
  f = pool.figures();
  EXPECT_EQ(f.in_flight, 0);
  EXPECT_EQ(f.queued, 0);
  EXPECT_EQ(stats_.pricing_completed.Value(), 5);
  EXPECT_EQ(stats_.pricing_queued.Value(), 0);
  // Room again once the jobs finished.
  EXPECT_TRUE(pool.submit([&] { ran++; }));
  while (pool.figures().completed < 6) std::this_thread::yield();
  EXPECT_EQ(ran.load(), 6);
  pool.stop();
  sys_.await_all_actors_done();  // the workers use the pool until they are gone
}

TEST_F(pricing_bulkhead, a_zero_queue_admits_only_as_many_as_workers) {
  pricing_pool pool(sys_, stats_, 1, 0);
  gate g;
  ASSERT_TRUE(pool.submit([&] { g.pass(); }));
  g.wait_for_waiting(1);
  EXPECT_FALSE(pool.submit([] {}));
  g.release();
  while (pool.figures().completed < 1) std::this_thread::yield();
  EXPECT_TRUE(pool.submit([] {}));
  pool.stop();
  sys_.await_all_actors_done();  // the workers use the pool until they are gone
}

TEST_F(pricing_bulkhead, call_pricing_answers_on_the_caller_and_reports_a_full_pool) {
  pricing_pool pool(sys_, stats_, 1, 0);
  gate g;
  ASSERT_TRUE(pool.submit([&] { g.pass(); }));
  g.wait_for_waiting(1);
  std::atomic<int> full{0};
  std::atomic<int> answer{0};
  std::atomic<bool> done{false};
  // The worker is busy and there is no queue: the caller is told at once.
  sys_.spawn([&](caf::event_based_actor* self) {
    call_pricing<int>(self, pool, 5s, [] { return 1; }, [&](std::optional<int>) { done = true; },
                      [&] { full++; done = true; });
  });
  while (!done) std::this_thread::yield();
  EXPECT_EQ(full.load(), 1);
  g.release();
  while (pool.figures().completed < 1) std::this_thread::yield();
  done = false;
  sys_.spawn([&](caf::event_based_actor* self) {
    call_pricing<int>(self, pool, 5s, [] { return 42; },
                      [&](std::optional<int> v) {
                        answer = v.value_or(-1);
                        done = true;
                      },
                      [&] { done = true; });
  });
  while (!done) std::this_thread::yield();
  EXPECT_EQ(answer.load(), 42);
  pool.stop();
  sys_.await_all_actors_done();  // the workers use the pool until they are gone
}

}  // namespace
}  // namespace cartd
