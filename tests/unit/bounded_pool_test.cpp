// The one connection pool template: bounded, reuses healthy idle connections, waits a bounded
// time, drops discarded and broken ones.
#include "persistence/bounded_pool.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>
#include <thread>

namespace cartd {
namespace {

using namespace std::chrono_literals;

struct fake_conn {
  int id;
  bool healthy = true;
};

struct pool_fixture {
  int made = 0;
  bounded_pool<fake_conn> pool{"fake", 2, 50ms, [this] { return std::make_unique<fake_conn>(fake_conn{++made}); },
                               [](fake_conn& c) { return c.healthy; }};
};

TEST(bounded_pool, never_opens_more_than_its_size_and_times_out_when_all_are_leased) {
  pool_fixture f;
  auto a = f.pool.try_acquire();
  auto b = f.pool.try_acquire();
  ASSERT_TRUE(a && b);
  EXPECT_FALSE(f.pool.try_acquire());  // waited 50 ms in vain
  auto fig = f.pool.figures();
  EXPECT_EQ(fig.open, 2);
  EXPECT_EQ(fig.in_use(), 2);
  EXPECT_EQ(fig.timeouts, 1);
  EXPECT_EQ(f.made, 2);
  EXPECT_THROW(f.pool.acquire_or_throw<std::runtime_error>(), std::runtime_error);
}

TEST(bounded_pool, reuses_a_returned_connection) {
  pool_fixture f;
  int first = 0;
  {
    auto a = f.pool.try_acquire();
    first = (*a)->id;
  }
  auto b = f.pool.try_acquire();
  EXPECT_EQ((*b)->id, first);
  EXPECT_EQ(f.made, 1);
  EXPECT_EQ(f.pool.figures().acquired, 2);
}

TEST(bounded_pool, a_waiter_gets_the_connection_another_thread_returns) {
  pool_fixture f;
  bounded_pool<fake_conn> slow{"slow", 1, 5s, [&] { return std::make_unique<fake_conn>(fake_conn{++f.made}); }};
  auto held = std::make_unique<bounded_pool<fake_conn>::lease>(std::move(*slow.try_acquire()));
  std::thread t([&] { held.reset(); });
  auto got = slow.try_acquire();  // waits until the other thread gives it back
  t.join();
  ASSERT_TRUE(got);
  EXPECT_EQ(slow.figures().open, 1);
}

TEST(bounded_pool, discarded_and_broken_connections_are_closed_and_replaced) {
  pool_fixture f;
  {
    auto a = f.pool.try_acquire();
    a->discard();
  }
  EXPECT_EQ(f.pool.figures().open, 0);
  {
    auto b = f.pool.try_acquire();
    (*b)->healthy = false;  // broke while leased: not kept
  }
  EXPECT_EQ(f.pool.figures().open, 0);
  auto c = f.pool.try_acquire();
  EXPECT_EQ((*c)->id, 3);
}

TEST(bounded_pool, a_factory_that_throws_frees_its_slot) {
  bool fail = true;
  bounded_pool<fake_conn> p{"flaky", 1, 10ms, [&]() -> std::unique_ptr<fake_conn> {
                              if (fail) throw std::runtime_error("down");
                              return std::make_unique<fake_conn>(fake_conn{1});
                            }};
  EXPECT_THROW(p.try_acquire(), std::runtime_error);
  fail = false;
  EXPECT_TRUE(p.try_acquire());
}

}  // namespace
}  // namespace cartd
