// A bulkhead on a real actor system: fixed workers, a bounded queue, refusals counted,
// and every admitted job run exactly once.
#include <caf/all.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "actors/metrics.hpp"
#include "actors/bulkhead.hpp"

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

class bulkheads : public ::testing::Test {
 protected:
  caf::actor_system_config cfg_;
  caf::actor_system sys_{cfg_};
  metrics stats_;
  std::shared_ptr<bulkhead_metrics> m_ = stats_.bulkhead("pricing");
};

TEST_F(bulkheads, refuses_beyond_workers_plus_queue_and_runs_every_admitted_job) {
  bulkhead pool(sys_, stats_, "pricing", 2, 3);
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
  EXPECT_EQ(m_->rejected.Value(), 2);
  EXPECT_EQ(m_->in_flight.Value(), 2);
  EXPECT_EQ(m_->queued.Value(), 3);

  g.release();
  while (pool.figures().completed < 5) std::this_thread::yield();
  EXPECT_EQ(ran.load(), 5);
  f = pool.figures();
  EXPECT_EQ(f.in_flight, 0);
  EXPECT_EQ(f.queued, 0);
  EXPECT_EQ(m_->completed.Value(), 5);
  EXPECT_EQ(m_->queued.Value(), 0);
  // Room again once the jobs finished.
  EXPECT_TRUE(pool.submit([&] { ran++; }));
  while (pool.figures().completed < 6) std::this_thread::yield();
  EXPECT_EQ(ran.load(), 6);
  pool.stop();
  sys_.await_all_actors_done();  // the workers use the pool until they are gone
}

TEST_F(bulkheads, a_zero_queue_admits_only_as_many_as_workers) {
  bulkhead pool(sys_, stats_, "pricing", 1, 0);
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

TEST_F(bulkheads, call_pricing_answers_on_the_caller_and_reports_a_full_pool) {
  bulkhead pool(sys_, stats_, "pricing", 1, 0);
  gate g;
  ASSERT_TRUE(pool.submit([&] { g.pass(); }));
  g.wait_for_waiting(1);
  std::atomic<int> full{0};
  std::atomic<int> answer{0};
  std::atomic<bool> done{false};
  // The worker is busy and there is no queue: the caller is told at once.
  sys_.spawn([&](caf::event_based_actor* self) {
    call_bulkhead<int>(self, pool, 5s, [] { return 1; }, [&](std::optional<int>) { done = true; },
                      [&] { full++; done = true; });
  });
  while (!done) std::this_thread::yield();
  EXPECT_EQ(full.load(), 1);
  g.release();
  while (pool.figures().completed < 1) std::this_thread::yield();
  done = false;
  sys_.spawn([&](caf::event_based_actor* self) {
    call_bulkhead<int>(self, pool, 5s, [] { return 42; },
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

TEST_F(bulkheads, a_full_payments_pool_refuses_alone_and_counts_under_its_own_label) {
  bulkhead payments(sys_, stats_, "payments", 1, 0);
  bulkhead pricing(sys_, stats_, "pricing", 1, 0);
  auto pay = stats_.bulkhead("payments");
  gate g;
  ASSERT_TRUE(payments.submit([&] { g.pass(); }));
  g.wait_for_waiting(1);
  EXPECT_FALSE(payments.submit([] {}));  // payments full
  std::atomic<bool> priced{false};
  EXPECT_TRUE(pricing.submit([&] { priced = true; }));  // pricing unaffected
  while (!priced) std::this_thread::yield();
  EXPECT_EQ(pay->rejected.Value(), 1);
  EXPECT_EQ(pay->in_flight.Value(), 1);
  EXPECT_EQ(m_->rejected.Value(), 0);
  EXPECT_EQ(payments.figures().name, "payments");
  auto text = stats_.render();
  EXPECT_NE(text.find("cartd_bulkhead_rejected_total{pool=\"payments\"} 1"), std::string::npos);
  g.release();
  while (payments.figures().completed < 1) std::this_thread::yield();
  payments.stop();
  pricing.stop();
  sys_.await_all_actors_done();
}

}  // namespace
}  // namespace cartd
