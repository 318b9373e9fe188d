// Cart actors wired as in production (registry, snapshot writer, store workers) over a real
// SQLite file: ordering under concurrency, passivation and reload, restart after failure, merge.
#include <caf/all.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "actors/system.hpp"
#include "actors/wire.hpp"
#include "domain/time.hpp"
#include "persistence/store.hpp"

namespace cartd {
namespace {

using namespace std::chrono_literals;

class cart_actors : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = std::filesystem::temp_directory_path() / "cartd-actors";
    std::filesystem::create_directories(dir);
    path_ = (dir / (std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) +
                    std::to_string(now_ms()) + ".db"))
                .string();
    cfg_.cart.idle_timeout = 100ms;
    cfg_.store.url = "sqlite://" + path_;
    db_ = open_store(cfg_.store.url);
    db_->migrate();
    db_->upsert_product(product{product_id{"tee"}, "Tee", "USD", true,
                                {variant{variant_id{"v1"}, "S1", 1999, 1000, 0},
                                 variant{variant_id{"v2"}, "S2", 500, 1000, 0}},
                                now_ms(), now_ms()});
    rt_ = std::make_unique<node_runtime>(cfg_, *db_, stats_);
  }
  void TearDown() override {
    rt_.reset();
    std::filesystem::remove(path_);
  }

  cart_reply ask(const cart_request& req) {
    caf::scoped_actor self{rt_->system()};
    cart_reply out = cart_reply::failure(make_error(error_code::internal, "no answer"));
    self->request(rt_->registry(), 5s, req)
        .receive([&](cart_reply& r) { out = std::move(r); },
                 [&](caf::error&) {
                   out = cart_reply::failure(make_error(error_code::unavailable, "error"));
                 });
    return out;
  }

  cart_id create(const principal& who) {
    cart_id id{new_uuid_v7(now_ms())};
    auto r = ask(cart_request{id, who, std::nullopt, create_cart{"USD", ""}, nullptr, {}});
    EXPECT_TRUE(r.ok);
    return id;
  }

  template <class Pred>
  bool eventually(Pred p) {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (p()) return true;
      std::this_thread::sleep_for(5ms);
    }
    return false;
  }

  config cfg_;
  metrics stats_;
  std::string path_;
  std::unique_ptr<store> db_;
  std::unique_ptr<node_runtime> rt_;
  principal alice_{"alice", "", false};
};

TEST_F(cart_actors, forty_concurrent_adds_to_one_cart_all_count) {
  auto id = create(alice_);
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 40; ++i) {
    threads.emplace_back([&] {
      auto r = ask(cart_request{id, alice_, std::nullopt, add_item_cmd{product_id{"tee"}, variant_id{"v1"}, 1}, nullptr, {}});
      if (r.ok) ok++;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 40);
  auto r = ask(cart_request{id, alice_, std::nullopt, get_cart{}, nullptr, {}});
  ASSERT_TRUE(r.ok);
  ASSERT_EQ(r.state.items.size(), 1u);
  EXPECT_EQ(r.state.items[0].quantity, 40);
  EXPECT_EQ(r.state.version, 41u);
  EXPECT_EQ(db_->load_cart(id)->items[0].quantity, 40);  // committed, not only in memory
}

TEST_F(cart_actors, pipelined_commands_reply_in_order_one_version_apart) {
  auto id = create(alice_);
  caf::scoped_actor self{rt_->system()};
  using handle = decltype(self->request(rt_->registry(), 5s, cart_request{}));
  std::vector<handle> pending;
  for (int i = 0; i < 20; ++i) {  // all 20 are queued before the first answer arrives
    pending.push_back(self->request(
        rt_->registry(), 5s,
        cart_request{id, alice_, std::nullopt, add_item_cmd{product_id{"tee"}, variant_id{"v2"}, 1}, nullptr, {}}));
  }
  std::vector<std::uint64_t> versions;
  for (auto& h : pending) {
    h.receive([&](cart_reply& r) { versions.push_back(r.state.version); },
              [&](caf::error&) { versions.push_back(0); });
  }
  ASSERT_EQ(versions.size(), 20u);
  for (std::size_t i = 0; i < versions.size(); ++i) EXPECT_EQ(versions[i], i + 2);
}

TEST_F(cart_actors, an_idle_cart_is_passivated_and_reloads_its_snapshot) {
  auto id = create(alice_);
  ASSERT_TRUE(ask(cart_request{id, alice_, std::nullopt, add_item_cmd{product_id{"tee"}, variant_id{"v1"}, 3}, nullptr, {}}).ok);
  ASSERT_TRUE(eventually([&] { return rt_->carts().passivated.load() >= 1; }));
  EXPECT_EQ(rt_->carts().live.load(), 0);
  auto r = ask(cart_request{id, alice_, std::nullopt, get_cart{}, nullptr, {}});
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.state.items.at(0).quantity, 3);
  EXPECT_EQ(rt_->carts().spawned.load(), 2);
}

TEST_F(cart_actors, a_failed_cart_restarts_from_its_last_committed_snapshot) {
  auto id = create(alice_);
  ASSERT_TRUE(ask(cart_request{id, alice_, std::nullopt, add_item_cmd{product_id{"tee"}, variant_id{"v1"}, 2}, nullptr, {}}).ok);
  auto failed = ask(cart_request{id, alice_, std::nullopt, fail_cart{}, nullptr, {}});
  EXPECT_FALSE(failed.ok);
  EXPECT_EQ(failed.error.code, error_code::unavailable);
  ASSERT_TRUE(eventually([&] { return rt_->carts().restarted.load() == 1; }));
  auto r = ask(cart_request{id, alice_, std::nullopt, get_cart{}, nullptr, {}});
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.state.items.at(0).quantity, 2);
  EXPECT_EQ(stats_.cart_restarts.Value(), 1);
}

TEST_F(cart_actors, requests_queued_behind_a_failure_are_answered_not_dropped) {
  auto id = create(alice_);
  std::vector<std::thread> threads;
  std::atomic<int> answered{0};
  threads.emplace_back([&] {
    ask(cart_request{id, alice_, std::nullopt, fail_cart{}, nullptr, {}});
    answered++;
  });
  for (int i = 0; i < 10; ++i) {
    threads.emplace_back([&] {
      ask(cart_request{id, alice_, std::nullopt, get_cart{}, nullptr, {}});  // ok, or unavailable: never silence
      answered++;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(answered.load(), 11);
}

TEST_F(cart_actors, strangers_see_nothing) {
  auto id = create(alice_);
  auto r = ask(cart_request{id, principal{"mallory", "", false}, std::nullopt, get_cart{}, nullptr, {}});
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error.code, error_code::not_found);
}

TEST_F(cart_actors, merge_changes_both_carts_atomically) {
  principal guest{"", "sess-1", false};
  principal both{"alice", "sess-1", false};
  auto target = create(alice_);
  auto source = create(guest);
  ASSERT_TRUE(ask(cart_request{target, alice_, std::nullopt, add_item_cmd{product_id{"tee"}, variant_id{"v1"}, 1}, nullptr, {}}).ok);
  ASSERT_TRUE(ask(cart_request{source, guest, std::nullopt, add_item_cmd{product_id{"tee"}, variant_id{"v1"}, 2}, nullptr, {}}).ok);
  ASSERT_TRUE(ask(cart_request{source, guest, std::nullopt, add_item_cmd{product_id{"tee"}, variant_id{"v2"}, 1}, nullptr, {}}).ok);
  auto merged = ask(cart_request{target, both, std::nullopt, merge_cart{source, merge_strategy::sum}, nullptr, {}});
  ASSERT_TRUE(merged.ok) << merged.error.detail;
  EXPECT_EQ(merged.state.items.size(), 2u);
  EXPECT_EQ(merged.state.items[0].quantity, 3);
  EXPECT_EQ(db_->load_cart(source)->status, cart_status::merged);
  auto again = ask(cart_request{source, guest, std::nullopt, add_item_cmd{product_id{"tee"}, variant_id{"v1"}, 1}, nullptr, {}});
  EXPECT_FALSE(again.ok);
  EXPECT_EQ(again.error.code, error_code::cart_not_active);
  // Without rights on the source, the merge sees no source at all.
  auto other = create(principal{"", "sess-2", false});
  auto refused = ask(cart_request{target, alice_, std::nullopt, merge_cart{other, merge_strategy::sum}, nullptr, {}});
  EXPECT_FALSE(refused.ok);
  EXPECT_EQ(refused.error.code, error_code::not_found);
}

// The envelope carries the Idempotency-Key answer as values (a render_spec); the cart renders it
// with the node's renderer and stores it in the transaction of the change, and says so.
TEST_F(cart_actors, an_idempotency_answer_is_rendered_by_the_cart_and_stored_with_the_change) {
  std::atomic<int> rendered{0};
  rt_->set_renderer([&rendered](const render_spec& spec, const cart_reply& r) {
    rendered++;
    forward_answer a;
    a.status = spec.ok_status;
    a.content_type = "application/json";
    a.body = "items=" + std::to_string(r.state.items.size()) + " path=" + spec.path;
    a.headers = {"Location", location_for(spec.location, r.state)};
    return a;
  });
  auto id = create(alice_);
  idempotency_request claim{"u:alice", "key-1", "fp", "node", "boot", now_ms(), 60000, 30000};
  ASSERT_EQ(db_->claim_idempotency_key(claim).outcome, idempotency_claim::state::claimed);
  cart_request req{id, alice_, std::nullopt,
                   add_item_cmd{product_id{"tee"}, variant_id{"v1"}, 2}, nullptr, {}};
  req.idempotency.ok_status = 201;
  req.idempotency.path = "/api/v1/cart/" + id.value + "/items";
  req.idempotency.location = location_rule{location_rule::item_path, "tee", "v1"};
  req.idempotency.idempotency_scope = "u:alice";
  req.idempotency.idempotency_key = "key-1";
  auto r = ask(req);
  ASSERT_TRUE(r.ok) << r.error.detail;
  EXPECT_TRUE(r.recorded);
  EXPECT_EQ(rendered.load(), 1);
  auto replay = db_->claim_idempotency_key(claim);
  ASSERT_EQ(replay.outcome, idempotency_claim::state::replay);
  EXPECT_EQ(replay.response.status, 201);
  EXPECT_EQ(replay.response.body, "items=1 path=" + req.idempotency.path);
  EXPECT_EQ(replay.response.location,
            "/api/v1/cart/" + id.value + "/items/" + r.state.items.at(0).id.value);
  // No key: nothing rendered, nothing recorded.
  auto plain = ask(cart_request{id, alice_, std::nullopt,
                                add_item_cmd{product_id{"tee"}, variant_id{"v1"}, 1}, nullptr, {}});
  ASSERT_TRUE(plain.ok);
  EXPECT_FALSE(plain.recorded);
  EXPECT_EQ(rendered.load(), 1);
}

}  // namespace
}  // namespace cartd
