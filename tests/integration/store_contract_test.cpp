// The store contract: every store implementation must pass these. Each test gets a fresh store
// (a new SQLite file); the PostgreSQL store joins the parameter list when it exists.
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <ostream>
#include <thread>
#include <tuple>

#include "domain/time.hpp"
#include "persistence/store.hpp"

namespace cartd {
namespace {

struct store_factory {
  std::string name;
  std::function<std::unique_ptr<store>(const std::string& test_name)> make;
};

std::string temp_db(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / "cartd-contract";
  std::filesystem::create_directories(dir);
  auto path = dir / (name + "-" + std::to_string(now_ms()) + ".db");
  return path.string();
}

void PrintTo(const store_factory& f, std::ostream* os) { *os << f.name; }

class store_contract : public ::testing::TestWithParam<store_factory> {
 protected:
  void SetUp() override {
    auto name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::string clean;
    for (char c : std::string(name)) clean.push_back(std::isalnum(static_cast<unsigned char>(c)) ? c : '_');
    db = GetParam().make(clean);
    db->migrate();
  }
  std::unique_ptr<store> db;
};

cart sample_cart(const std::string& id, const std::string& user) {
  cart c = new_cart(cart_id{id}, principal{user, "", false}, "USD", "", now_ms());
  c.items.push_back(cart_item{item_id{"i1"}, product_id{"p"}, variant_id{"v"}, "Tee \"quoted\"", 2,
                              1999, now_ms()});
  return c;
}

TEST_P(store_contract, migrations_are_idempotent) { EXPECT_EQ(db->migrate(), 0); }

TEST_P(store_contract, a_new_cart_round_trips) {
  auto c = sample_cart("c-1", "alice");
  auto res = db->commit({write_unit{{cart_write{c, 0}}}});
  ASSERT_EQ(res.size(), 1u);
  EXPECT_EQ(res[0], write_status::committed);
  auto loaded = db->load_cart(cart_id{"c-1"});
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded->version, 1u);
  ASSERT_EQ(loaded->items.size(), 1u);
  EXPECT_EQ(loaded->items[0].name, "Tee \"quoted\"");
  EXPECT_EQ(loaded->items[0].unit_price, 1999);
  EXPECT_FALSE(db->load_cart(cart_id{"missing"}));
}

TEST_P(store_contract, writes_are_conditional_on_the_version_seen) {
  auto c = sample_cart("c-2", "alice");
  ASSERT_EQ(db->commit({write_unit{{cart_write{c, 0}}}})[0], write_status::committed);
  EXPECT_EQ(db->commit({write_unit{{cart_write{c, 0}}}})[0], write_status::conflict);
  auto next = c;
  next.version = 2;
  EXPECT_EQ(db->commit({write_unit{{cart_write{next, 1}}}})[0], write_status::committed);
  auto stale = c;
  stale.version = 2;
  EXPECT_EQ(db->commit({write_unit{{cart_write{stale, 1}}}})[0], write_status::conflict);
  EXPECT_EQ(db->load_cart(cart_id{"c-2"})->version, 2u);
}

TEST_P(store_contract, a_failed_unit_rolls_back_alone_and_whole) {
  auto a = sample_cart("c-a", "alice");
  auto b = sample_cart("c-b", "alice");
  auto other = sample_cart("c-o", "bob");
  ASSERT_EQ(db->commit({write_unit{{cart_write{a, 0}}}})[0], write_status::committed);
  auto a2 = a;
  a2.version = 2;
  // Unit 1: a (valid) + b expected at version 7 (invalid): neither may land.
  auto b_bad = b;
  b_bad.version = 8;
  auto res = db->commit({write_unit{{cart_write{a2, 1}, cart_write{b_bad, 7}}},
                         write_unit{{cart_write{other, 0}}}});
  ASSERT_EQ(res.size(), 2u);
  EXPECT_EQ(res[0], write_status::conflict);
  EXPECT_EQ(res[1], write_status::committed);
  EXPECT_EQ(db->load_cart(cart_id{"c-a"})->version, 1u);
  EXPECT_FALSE(db->load_cart(cart_id{"c-b"}));
  EXPECT_TRUE(db->load_cart(cart_id{"c-o"}));
}

// Issue 13: the per-owner limit on active carts counts what list_carts would show as active.
TEST_P(store_contract, counts_an_owners_active_carts_up_to_a_cap) {
  std::vector<write_unit> units;
  for (int i = 0; i < 4; ++i) units.push_back(write_unit{{cart_write{sample_cart("n-a" + std::to_string(i), "nina"), 0}}});
  auto merged = sample_cart("n-m", "nina");
  merged.status = cart_status::merged;
  auto deleted = sample_cart("n-d", "nina");
  deleted.status = cart_status::deleted;
  cart guest = new_cart(cart_id{"n-g"}, principal{"", "sess-nina", false}, "USD", "", now_ms());
  units.push_back(write_unit{{cart_write{merged, 0}}});
  units.push_back(write_unit{{cart_write{deleted, 0}}});
  units.push_back(write_unit{{cart_write{guest, 0}}});
  db->commit(units);
  EXPECT_EQ(db->count_active_carts(principal{"nina", "", false}, 100), 4);
  EXPECT_EQ(db->count_active_carts(principal{"nina", "", false}, 3), 3);
  EXPECT_EQ(db->count_active_carts(principal{"", "sess-nina", false}, 100), 1);
  EXPECT_EQ(db->count_active_carts(principal{"nina", "sess-nina", false}, 100), 5);
  EXPECT_EQ(db->count_active_carts(principal{"nobody", "", false}, 100), 0);
}

TEST_P(store_contract, lists_an_owners_carts_active_first_without_deleted) {
  auto a = sample_cart("l-a", "carol");
  auto b = sample_cart("l-b", "carol");
  b.status = cart_status::merged;
  auto d = sample_cart("l-d", "carol");
  d.status = cart_status::deleted;
  auto x = sample_cart("l-x", "dave");
  db->commit({write_unit{{cart_write{b, 0}}}, write_unit{{cart_write{a, 0}}},
              write_unit{{cart_write{d, 0}}}, write_unit{{cart_write{x, 0}}}});
  auto list = db->list_carts(principal{"carol", "", false}, 200, std::nullopt);
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].id.value, "l-a");
  EXPECT_EQ(list[1].id.value, "l-b");
}

TEST_P(store_contract, products_upsert_and_keep_variant_order) {
  product p{product_id{"tee"}, "Tee", "USD", true,
            {variant{variant_id{"v-red"}, "R", 1999, 10, 0}, variant{variant_id{"v-blue"}, "B", 2099, 5, 0}},
            now_ms(), now_ms()};
  EXPECT_TRUE(db->upsert_product(p));
  p.variants.pop_back();
  p.variants[0].price = 1499;
  EXPECT_FALSE(db->upsert_product(p));
  auto got = db->get_product(product_id{"tee"});
  ASSERT_TRUE(got);
  ASSERT_EQ(got->variants.size(), 1u);
  EXPECT_EQ(got->variants[0].price, 1499);
  EXPECT_EQ(got->variants[0].available(), 10);
  EXPECT_FALSE(db->get_product(product_id{"nope"}));
}

TEST_P(store_contract, sessions_are_found_by_id_and_token_hash) {
  session s{"s-1", "hash-1", "", R"({"os":"ios"})", now_ms() + 60000, now_ms()};
  db->create_session(s);
  EXPECT_EQ(db->find_session("s-1")->device_json, R"({"os":"ios"})");
  EXPECT_EQ(db->find_session_by_token("hash-1")->id, "s-1");
  s.device_json = "";
  db->update_session(s);
  EXPECT_EQ(db->find_session("s-1")->device_json, "");
  EXPECT_TRUE(db->delete_session("s-1"));
  EXPECT_FALSE(db->find_session_by_token("hash-1"));
  EXPECT_FALSE(db->delete_session("s-1"));
}

idempotency_request claim(const std::string& scope, const std::string& key, const std::string& f,
                          std::int64_t now, const std::string& boot = "boot-1") {
  return idempotency_request{scope, key, f, "node-a", boot, now, 86400000, 60000};
}

TEST_P(store_contract, a_change_and_its_idempotent_answer_commit_together) {
  using st = idempotency_claim::state;
  auto now = now_ms();
  ASSERT_EQ(db->claim_idempotency_key(claim("u:a", "k1", "f", now)).outcome, st::claimed);
  ASSERT_EQ(db->claim_idempotency_key(claim("u:a", "k2", "f", now)).outcome, st::claimed);
  auto c = sample_cart("idem-1", "alice");
  write_unit ok{{cart_write{c, 0}}, idempotency_completion{"u:a", "k1", {201, "application/json", "\"1\"", "{}"}}};
  write_unit lost{{cart_write{c, 0}}, idempotency_completion{"u:a", "k2", {201, "application/json", "\"1\"", "{}"}}};
  auto res = db->commit({ok, lost});  // the second conflicts: same cart, version 0 again
  EXPECT_EQ(res[0], write_status::committed);
  EXPECT_EQ(res[1], write_status::conflict);
  EXPECT_EQ(db->claim_idempotency_key(claim("u:a", "k1", "f", now)).outcome, st::replay);
  EXPECT_EQ(db->claim_idempotency_key(claim("u:a", "k2", "f", now)).outcome, st::in_progress);
}

TEST_P(store_contract, events_enter_the_outbox_with_their_change_in_commit_order) {
  auto a = sample_cart("ev-a", "alice");
  auto b = sample_cart("ev-b", "alice");
  write_unit first{{cart_write{a, 0}}, std::nullopt, {outbox_event{"ev-a", "cart_created", "{\"n\":1}"}}};
  write_unit lost{{cart_write{a, 0}}, std::nullopt, {outbox_event{"ev-a", "cart_created", "{\"n\":2}"}}};
  write_unit second{{cart_write{b, 0}}, std::nullopt, {outbox_event{"ev-b", "cart_created", "{\"n\":3}"}}};
  auto res = db->commit({first, lost, second});
  EXPECT_EQ(res[1], write_status::conflict);
  auto a2 = a;
  a2.version = 2;
  db->commit({write_unit{{cart_write{a2, 1}}, std::nullopt, {outbox_event{"ev-a", "item_added", "{\"n\":4}"}}}});
  auto rows = db->fetch_outbox(10);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].event.payload, "{\"n\":1}");
  EXPECT_EQ(rows[1].event.payload, "{\"n\":3}");
  EXPECT_EQ(rows[2].event.type, "item_added");
  EXPECT_LT(rows[0].id, rows[2].id);
  db->delete_outbox({rows[0].id, rows[1].id});
  rows = db->fetch_outbox(10);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].event.cart_id, "ev-a");
}

TEST_P(store_contract, pricing_rules_upsert_list_in_creation_order_and_delete) {
  EXPECT_TRUE(db->put_pricing_rule(pricing_rule{"tax", "US-CA", "", "{\"rate\":\"8.875\"}"}));
  EXPECT_TRUE(db->put_pricing_rule(pricing_rule{"tax", "DE", "", "{\"rate\":\"19\"}"}));
  EXPECT_FALSE(db->put_pricing_rule(pricing_rule{"tax", "US-CA", "", "{\"rate\":\"9\"}"}));
  EXPECT_TRUE(db->put_pricing_rule(pricing_rule{"shipping", "std", "", "{}"}));
  auto taxes = db->list_pricing_rules("tax");
  ASSERT_EQ(taxes.size(), 2u);
  EXPECT_EQ(taxes[0].id, "US-CA");  // keeps its place on update
  EXPECT_EQ(taxes[0].body, "{\"rate\":\"9\"}");
  EXPECT_LT(taxes[0].seq, taxes[1].seq);
  EXPECT_TRUE(db->delete_pricing_rule("tax", "DE"));
  EXPECT_FALSE(db->delete_pricing_rule("tax", "DE"));
  EXPECT_EQ(db->list_pricing_rules("tax").size(), 1u);
  EXPECT_EQ(db->list_pricing_rules("shipping").size(), 1u);
}

TEST_P(store_contract, a_rule_is_replaced_only_while_it_is_as_it_was_read) {
  ASSERT_TRUE(db->put_pricing_rule(pricing_rule{"discount", "d1", "old", "{\"v\":1}"}));
  ASSERT_TRUE(db->count_discount_use("d1", std::nullopt));
  EXPECT_TRUE(
      db->replace_pricing_rule(pricing_rule{"discount", "d1", "new", "{\"v\":2}"}, "{\"v\":1}"));
  // A second writer that read {"v":1} too loses, and sees the first one's change to retry on.
  EXPECT_FALSE(
      db->replace_pricing_rule(pricing_rule{"discount", "d1", "other", "{\"v\":3}"}, "{\"v\":1}"));
  auto rules = db->list_pricing_rules("discount");
  ASSERT_EQ(rules.size(), 1u);
  EXPECT_EQ((std::make_tuple(rules[0].code, rules[0].body, rules[0].used)),
            (std::make_tuple(std::string("new"), std::string("{\"v\":2}"), std::int64_t{1})));
  EXPECT_TRUE(
      db->replace_pricing_rule(pricing_rule{"discount", "d1", "", "{\"v\":4}"}, "{\"v\":2}"));
  EXPECT_EQ(db->list_pricing_rules("discount")[0].code, "");  // no code: none stored
  EXPECT_FALSE(db->replace_pricing_rule(pricing_rule{"discount", "gone", "", "{}"}, "{}"));
  EXPECT_FALSE(
      db->replace_pricing_rule(pricing_rule{"tax", "d1", "", "{}"}, "{\"v\":4}"));  // other kind
}

TEST_P(store_contract, discount_uses_are_counted_up_to_the_limit_and_given_back) {
  ASSERT_TRUE(db->put_pricing_rule(pricing_rule{"discount", "d1", "save10", "{}"}));
  ASSERT_TRUE(db->put_pricing_rule(pricing_rule{"discount", "d2", "", "{}"}));
  ASSERT_TRUE(db->put_pricing_rule(pricing_rule{"tax", "d1", "", "{}"}));  // same id, other kind
  auto used = [&](const std::string& id) {
    for (const auto& r : db->list_pricing_rules("discount"))
      if (r.id == id) return r.used;
    return std::int64_t{-1};
  };
  EXPECT_TRUE(db->count_discount_use("d1", 2));
  EXPECT_TRUE(db->count_discount_use("d1", 2));
  EXPECT_FALSE(db->count_discount_use("d1", 2));  // used up
  EXPECT_EQ(used("d1"), 2);
  EXPECT_TRUE(db->count_discount_use("d1", 3));  // a raised limit makes room
  EXPECT_EQ(used("d1"), 3);
  EXPECT_TRUE(db->count_discount_use("d2", std::nullopt));
  EXPECT_FALSE(db->count_discount_use("missing", std::nullopt));
  EXPECT_EQ(db->list_pricing_rules("tax")[0].used, 0);
  // An admin write keeps the count.
  ASSERT_FALSE(db->put_pricing_rule(pricing_rule{"discount", "d1", "save10", "{\"value\":\"5\"}"}));
  EXPECT_EQ(used("d1"), 3);
  EXPECT_TRUE(db->release_discount_use("d1"));
  EXPECT_EQ(used("d1"), 2);
  EXPECT_TRUE(db->release_discount_use("d2"));
  EXPECT_FALSE(db->release_discount_use("d2"));  // never below 0
  EXPECT_EQ(used("d2"), 0);
}

TEST_P(store_contract, racing_orders_never_use_a_discount_beyond_its_limit) {
  ASSERT_TRUE(db->put_pricing_rule(pricing_rule{"discount", "last5", "", "{}"}));
  std::atomic<int> counted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i)
        if (db->count_discount_use("last5", 5)) ++counted;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(counted.load(), 5);
  EXPECT_EQ(db->list_pricing_rules("discount")[0].used, 5);
}

/// A cart last changed at `at_ms` (version 1, or `version` after updates).
cart cart_changed_at(const std::string& id, std::int64_t at_ms,
                     cart_status status = cart_status::active) {
  auto c = sample_cart(id, "lifecycle");
  c.created_at_ms = at_ms;
  c.updated_at_ms = at_ms;
  c.status = status;
  return c;
}

std::tuple<int, int, int, int> counts(const lifecycle_step& s) {
  return {s.scanned, s.idle, s.reported, s.purged};
}

TEST_P(store_contract, the_lifecycle_sweep_reports_each_idle_spell_once_page_by_page) {
  constexpr std::int64_t day = 86'400'000;
  const std::int64_t now = now_ms();
  ASSERT_EQ(db->commit({write_unit{{cart_write{cart_changed_at("old-1", now - 3 * day), 0}}},
                        write_unit{{cart_write{cart_changed_at("old-2", now - 2 * day), 0}}},
                        write_unit{{cart_write{cart_changed_at("fresh", now - 1000), 0}}},
                        write_unit{{cart_write{
                            cart_changed_at("done", now - 5 * day, cart_status::merged), 0}}}}),
            (std::vector<write_status>(4, write_status::committed)));
  const auto idle_before = now - day, expire_before = now - 30 * day;
  auto sweep = [&](const std::string& after, int limit, bool events = true) {
    return db->sweep_carts(after, limit, idle_before, expire_before, events, now);
  };
  auto all = sweep("", 10);
  EXPECT_EQ(counts(all), std::make_tuple(4, 2, 2, 0));
  EXPECT_EQ(all.last_id, "old-2");  // ids in order: done, fresh, old-1, old-2
  auto rows = db->fetch_outbox(10);
  ASSERT_EQ(rows.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(rows[i].event.type, "cart_abandoned");
    EXPECT_EQ(rows[i].event.cart_id, i == 0 ? "old-1" : "old-2");
    EXPECT_NE(rows[i].event.payload.find("\"type\":\"cart_abandoned\""), std::string::npos);
    EXPECT_NE(rows[i].event.payload.find("\"cartId\":\"" + rows[i].event.cart_id + "\""),
              std::string::npos);
  }
  EXPECT_EQ(counts(sweep("", 10)), std::make_tuple(4, 2, 0, 0));  // still idle, reported once
  EXPECT_EQ(db->fetch_outbox(10).size(), 2u);

  // Page by page: each page goes on after the last id of the one before; the end is short.
  auto p1 = sweep("", 2);
  EXPECT_EQ((std::make_pair(counts(p1), p1.last_id)),
            (std::make_pair(std::make_tuple(2, 0, 0, 0), std::string("fresh"))));
  auto p2 = sweep(p1.last_id, 2);
  EXPECT_EQ((std::make_pair(counts(p2), p2.last_id)),
            (std::make_pair(std::make_tuple(2, 2, 0, 0), std::string("old-2"))));
  auto p3 = sweep(p2.last_id, 2);
  EXPECT_EQ((std::make_pair(counts(p3), p3.last_id)),
            (std::make_pair(std::make_tuple(0, 0, 0, 0), std::string())));

  // old-1 changes, then idles again: a new spell, reported again (without events this time).
  auto again = cart_changed_at("old-1", now - day - 500);
  again.version = 2;
  ASSERT_EQ(db->commit({write_unit{{cart_write{again, 1}}}})[0], write_status::committed);
  EXPECT_EQ(counts(sweep("", 10, false)), std::make_tuple(4, 2, 1, 0));
  EXPECT_EQ(db->fetch_outbox(10).size(), 2u);
  again.version = 3;
  again.updated_at_ms = now;  // back in use: no longer idle
  ASSERT_EQ(db->commit({write_unit{{cart_write{again, 2}}}})[0], write_status::committed);
  EXPECT_EQ(counts(sweep("", 10)), std::make_tuple(4, 1, 0, 0));
}

TEST_P(store_contract, the_lifecycle_sweep_purges_expired_carts_of_any_status) {
  constexpr std::int64_t day = 86'400'000;
  const std::int64_t now = now_ms();
  ASSERT_EQ(
      db->commit(
          {write_unit{{cart_write{cart_changed_at("x-1", now - 40 * day), 0}}},
           write_unit{
               {cart_write{cart_changed_at("x-2", now - 31 * day, cart_status::deleted), 0}}},
           write_unit{{cart_write{cart_changed_at("x-3", now - 35 * day, cart_status::merged), 0}}},
           write_unit{{cart_write{cart_changed_at("keep", now - 29 * day), 0}}}}),
      (std::vector<write_status>(4, write_status::committed)));
  const auto idle_before = now - day, expire_before = now - 30 * day;
  EXPECT_EQ(counts(db->sweep_carts("", 10, idle_before, expire_before, false, now)),
            std::make_tuple(4, 1, 1, 3));  // keep is abandoned; the others are gone
  EXPECT_FALSE(db->load_cart(cart_id{"x-1"}));
  EXPECT_FALSE(db->load_cart(cart_id{"x-2"}));
  EXPECT_FALSE(db->load_cart(cart_id{"x-3"}));
  ASSERT_TRUE(db->load_cart(cart_id{"keep"}));
  EXPECT_EQ(counts(db->sweep_carts("", 10, idle_before, expire_before, false, now)),
            std::make_tuple(1, 1, 0, 0));
  // A purged id used again starts from scratch: its new idle spell is reported.
  ASSERT_EQ(db->commit({write_unit{{cart_write{cart_changed_at("x-1", now - 2 * day), 0}}}})[0],
            write_status::committed);
  EXPECT_EQ(counts(db->sweep_carts("", 10, idle_before, expire_before, false, now)),
            std::make_tuple(2, 2, 1, 0));
}

TEST_P(store_contract, nodes_sweeping_at_once_report_each_idle_spell_once) {
  constexpr std::int64_t day = 86'400'000;
  const std::int64_t now = now_ms();
  std::vector<write_unit> units;
  for (int i = 0; i < 120; ++i)
    units.push_back(write_unit{
        {cart_write{cart_changed_at("idle-" + std::to_string(1000 + i), now - 2 * day), 0}}});
  ASSERT_EQ(db->commit(units), std::vector<write_status>(120, write_status::committed));
  std::atomic<int> reported{0};
  std::atomic<int> failed{0};
  std::vector<std::thread> nodes;
  for (int t = 0; t < 4; ++t) {
    nodes.emplace_back([&] {
      try {
        std::string cursor;
        for (;;) {  // one pass in pages of 25, as a sweeper does
          auto s = db->sweep_carts(cursor, 25, now - day, now - 30 * day, true, now);
          reported += s.reported;
          cursor = s.last_id;
          if (s.scanned < 25) break;
        }
      } catch (const std::exception&) {
        ++failed;  // a deadlock or busy store: a failure of this test, not a crash
      }
    });
  }
  for (auto& n : nodes) n.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(reported.load(), 120);
  EXPECT_EQ(db->fetch_outbox(500).size(), 120u);
}

TEST_P(store_contract, claims_of_a_dead_process_of_this_node_are_taken_over) {
  using st = idempotency_claim::state;
  auto now = now_ms();
  ASSERT_EQ(db->claim_idempotency_key(claim("u:a", "k", "f", now, "boot-1")).outcome, st::claimed);
  EXPECT_EQ(db->claim_idempotency_key(claim("u:a", "k", "f", now, "boot-1")).outcome, st::in_progress);
  EXPECT_EQ(db->claim_idempotency_key(claim("u:a", "k", "f", now, "boot-2")).outcome, st::claimed);
  auto other_node = claim("u:a", "k", "f", now, "boot-9");
  other_node.node = "node-b";
  EXPECT_EQ(db->claim_idempotency_key(other_node).outcome, st::in_progress);
}

TEST_P(store_contract, idempotency_keys_claim_replay_and_refuse_reuse) {
  using st = idempotency_claim::state;
  auto now = now_ms();
  EXPECT_EQ(db->claim_idempotency_key(claim("u:a", "k", "f1", now)).outcome, st::claimed);
  EXPECT_EQ(db->claim_idempotency_key(claim("u:a", "k", "f1", now)).outcome, st::in_progress);
  db->complete_idempotency_key("u:a", "k", stored_response{201, "application/json", "\"2\"", "{}"});
  auto replay = db->claim_idempotency_key(claim("u:a", "k", "f1", now));
  EXPECT_EQ(replay.outcome, st::replay);
  EXPECT_EQ(replay.response.status, 201);
  EXPECT_EQ(replay.response.etag, "\"2\"");
  EXPECT_EQ(db->claim_idempotency_key(claim("u:a", "k", "f2", now)).outcome, st::reused);
  // Keys are scoped: another caller may use the same key.
  EXPECT_EQ(db->claim_idempotency_key(claim("u:b", "k", "f2", now)).outcome, st::claimed);
  db->release_idempotency_key("u:b", "k");
  EXPECT_EQ(db->claim_idempotency_key(claim("u:b", "k", "f3", now)).outcome, st::claimed);
  // A claim whose process died is taken over once it is stale.
  EXPECT_EQ(db->claim_idempotency_key(claim("u:b", "k", "f3", now + 61000)).outcome,
            st::claimed);
}

TEST_P(store_contract, a_session_or_a_rule_commits_with_its_idempotent_answer) {
  using st = idempotency_claim::state;
  auto now = now_ms();
  ASSERT_EQ(db->claim_idempotency_key(claim("u:a", "s1", "f", now)).outcome, st::claimed);
  session s{"sess-1", "hash-1", "alice", "", now + 60000, now};
  idempotency_completion done{"u:a", "s1",
                              stored_response{201, "application/json", "", "{\"id\":\"sess-1\"}"}};
  db->create_session(s, &done);
  ASSERT_TRUE(db->find_session("sess-1"));
  auto replay = db->claim_idempotency_key(claim("u:a", "s1", "f", now));
  EXPECT_EQ(replay.outcome, st::replay);
  EXPECT_EQ(replay.response.body, "{\"id\":\"sess-1\"}");
  // A session that cannot be inserted (its id is taken) leaves the claim unanswered.
  ASSERT_EQ(db->claim_idempotency_key(claim("u:a", "s2", "f", now)).outcome, st::claimed);
  idempotency_completion again{"u:a", "s2", stored_response{201, "application/json", "", "{}"}};
  session twin = s;
  twin.token_hash = "hash-2";
  EXPECT_ANY_THROW(db->create_session(twin, &again));
  EXPECT_EQ(db->claim_idempotency_key(claim("u:a", "s2", "f", now)).outcome, st::in_progress);

  ASSERT_EQ(db->claim_idempotency_key(claim("u:a", "d1", "f", now)).outcome, st::claimed);
  idempotency_completion made{"u:a", "d1",
                              stored_response{201, "application/json", "", "{\"id\":\"d-1\"}"}};
  EXPECT_TRUE(db->put_pricing_rule(pricing_rule{"discount", "d-1", "", "{\"id\":\"d-1\"}"}, &made));
  EXPECT_EQ(db->claim_idempotency_key(claim("u:a", "d1", "f", now)).response.body,
            "{\"id\":\"d-1\"}");
}

TEST_P(store_contract, releasing_a_claim_keeps_an_answer_that_committed) {
  using st = idempotency_claim::state;
  auto now = now_ms();
  ASSERT_EQ(db->claim_idempotency_key(claim("u:a", "late", "f", now)).outcome, st::claimed);
  // The change committed its answer after the front end had given up (503) and releases.
  db->complete_idempotency_key("u:a", "late",
                               stored_response{201, "application/json", "", "{\"ok\":1}"});
  db->release_idempotency_key("u:a", "late");
  auto retry = db->claim_idempotency_key(claim("u:a", "late", "f", now));
  EXPECT_EQ(retry.outcome, st::replay);  // not done twice
  EXPECT_EQ(retry.response.body, "{\"ok\":1}");
}

TEST_P(store_contract, a_change_whose_claim_was_released_does_not_commit) {
  using st = idempotency_claim::state;
  auto now = now_ms();
  // The front end gave up on each of these (503) and released the claim before the change
  // reached the store: the change must not land, or the client's retry would do it twice.
  ASSERT_EQ(db->claim_idempotency_key(claim("u:a", "c", "f", now)).outcome, st::claimed);
  db->release_idempotency_key("u:a", "c");
  auto c = sample_cart("late-cart", "alice");
  write_unit unit{{cart_write{c, 0}}};
  unit.completes =
      idempotency_completion{"u:a", "c", stored_response{201, "application/json", "", "{}"}};
  EXPECT_EQ(db->commit({unit}), std::vector<write_status>{write_status::conflict});
  EXPECT_FALSE(db->load_cart(cart_id{"late-cart"}));
  // An update too (it goes through the batch on PostgreSQL).
  ASSERT_EQ(db->commit({write_unit{{cart_write{c, 0}}}})[0], write_status::committed);
  ASSERT_EQ(db->claim_idempotency_key(claim("u:a", "c2", "f", now)).outcome, st::claimed);
  db->release_idempotency_key("u:a", "c2");
  auto next = c;
  next.version = 2;
  write_unit update{{cart_write{next, 1}}};
  update.completes =
      idempotency_completion{"u:a", "c2", stored_response{200, "application/json", "", "{}"}};
  EXPECT_EQ(db->commit({update}), std::vector<write_status>{write_status::conflict});
  EXPECT_EQ(db->load_cart(cart_id{"late-cart"})->version, 1u);

  ASSERT_EQ(db->claim_idempotency_key(claim("u:a", "s", "f", now)).outcome, st::claimed);
  db->release_idempotency_key("u:a", "s");
  idempotency_completion done{"u:a", "s", stored_response{201, "application/json", "", "{}"}};
  EXPECT_ANY_THROW(
      db->create_session(session{"late-sess", "h-late", "", "", now + 60000, now}, &done));
  EXPECT_FALSE(db->find_session("late-sess"));
  ASSERT_EQ(db->claim_idempotency_key(claim("u:a", "r", "f", now)).outcome, st::claimed);
  db->release_idempotency_key("u:a", "r");
  idempotency_completion made{"u:a", "r", stored_response{201, "application/json", "", "{}"}};
  EXPECT_ANY_THROW(db->put_pricing_rule(pricing_rule{"discount", "late-d", "", "{}"}, &made));
  EXPECT_TRUE(db->list_pricing_rules("discount").empty());
}

TEST_P(store_contract, a_cart_that_is_gone_is_not_written_back_by_a_stale_update) {
  auto c = sample_cart("gone", "alice");
  ASSERT_EQ(db->commit({write_unit{{cart_write{c, 0}}}})[0], write_status::committed);
  c.updated_at_ms = now_ms() - 40LL * 86'400'000;
  c.version = 2;
  ASSERT_EQ(db->commit({write_unit{{cart_write{c, 1}}}})[0], write_status::committed);
  // Purged by a sweep, while a live actor still holds it at version 2.
  ASSERT_EQ(db->sweep_carts("", 10, now_ms(), now_ms() - 30LL * 86'400'000, false, now_ms()).purged,
            1);
  auto next = c;
  next.version = 3;
  next.updated_at_ms = now_ms();
  EXPECT_EQ(db->commit({write_unit{{cart_write{next, 2}}}})[0], write_status::conflict);
  EXPECT_FALSE(db->load_cart(cart_id{"gone"}));
}

TEST_P(store_contract, concurrent_commits_from_threads_all_land) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([this, t] {
      for (int i = 0; i < 25; ++i) {
        auto c = sample_cart("t" + std::to_string(t) + "-" + std::to_string(i), "eve");
        db->commit({write_unit{{cart_write{c, 0}}}});
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(db->list_carts(principal{"eve", "", false}, 200, std::nullopt).size(), 100u);
}

/// A new PostgreSQL database for each test (ctest runs tests in parallel processes).
std::unique_ptr<store> fresh_pg(const std::string& url, const std::string& test_name) {
  PGconn* c = PQconnectdb(url.c_str());
  if (PQstatus(c) != CONNECTION_OK) {
    std::string msg = PQerrorMessage(c);
    PQfinish(c);
    throw std::runtime_error("cannot reach the test PostgreSQL: " + msg);
  }
  std::string db = "contract_" + test_name;
  std::transform(db.begin(), db.end(), db.begin(), [](unsigned char ch) { return std::tolower(ch); });
  PQclear(PQexec(c, ("DROP DATABASE IF EXISTS " + db).c_str()));
  PQclear(PQexec(c, ("CREATE DATABASE " + db).c_str()));
  PQfinish(c);
  return open_store(url.substr(0, url.rfind('/') + 1) + db);
}

std::vector<store_factory> factories() {
  std::vector<store_factory> out{
      {"sqlite", [](const std::string& name) { return open_store("sqlite://" + temp_db(name)); }}};
  // scripts/test starts a private PostgreSQL and names it here; without it (a bare ctest run
  // outside scripts/test) only SQLite is checked.
  if (const char* url = std::getenv("CARTD_TEST_PG_URL"); url && *url) {
    std::string u = url;
    out.push_back({"postgresql", [u](const std::string& name) { return fresh_pg(u, name); }});
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(stores, store_contract, ::testing::ValuesIn(factories()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace cartd
