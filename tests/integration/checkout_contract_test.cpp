// The checkout contract: stock reservations, checkout sessions, orders and the payment ledger,
// as every store implementation must keep them (persistence/store.hpp, "Checkout, orders,
// payments"). Each test gets a fresh store (a new SQLite file, or a new PostgreSQL database
// when scripts/test names one in CARTD_TEST_PG_URL) and makes fresh ids of its own.
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "domain/checkout.hpp"
#include "domain/ids.hpp"
#include "domain/order.hpp"
#include "domain/time.hpp"
#include "persistence/store.hpp"

namespace cartd {
namespace {

// --- The store under test (as in store_contract_test.cpp) ---

struct store_factory {
  std::string name;
  std::function<std::unique_ptr<store>(const std::string& test_name)> make;
};

std::string temp_db(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / "cartd-contract";
  std::filesystem::create_directories(dir);
  auto path = dir / ("checkout-" + name + "-" + std::to_string(now_ms()) + ".db");
  return path.string();
}

void PrintTo(const store_factory& f, std::ostream* os) { *os << f.name; }

/// A new PostgreSQL database for each test (ctest runs tests in parallel processes). Names
/// longer than PostgreSQL keeps (63 bytes) end in a hash of the whole name instead.
std::unique_ptr<store> fresh_pg(const std::string& url, const std::string& test_name) {
  PGconn* c = PQconnectdb(url.c_str());
  if (PQstatus(c) != CONNECTION_OK) {
    std::string msg = PQerrorMessage(c);
    PQfinish(c);
    throw std::runtime_error("cannot reach the test PostgreSQL: " + msg);
  }
  std::string db = "checkout_" + test_name;
  std::transform(db.begin(), db.end(), db.begin(), [](unsigned char ch) { return std::tolower(ch); });
  if (db.size() > 63) {
    char tail[24];
    std::snprintf(tail, sizeof tail, "_%08zx", std::hash<std::string>{}(db) & 0xffffffffu);
    db = db.substr(0, 63 - std::string(tail).size()) + tail;
  }
  PQclear(PQexec(c, ("DROP DATABASE IF EXISTS " + db).c_str()));
  PQclear(PQexec(c, ("CREATE DATABASE " + db).c_str()));
  PQfinish(c);
  return open_store(url.substr(0, url.rfind('/') + 1) + db);
}

std::vector<store_factory> factories() {
  std::vector<store_factory> out{
      {"sqlite", [](const std::string& name) { return open_store("sqlite://" + temp_db(name)); }}};
  if (const char* url = std::getenv("CARTD_TEST_PG_URL"); url && *url) {
    std::string u = url;
    out.push_back({"postgresql", [u](const std::string& name) { return fresh_pg(u, name); }});
  }
  return out;
}

// --- Readable outcomes in failure messages ---

const char* what(open_checkout_result::outcome o) {
  switch (o) {
    case open_checkout_result::outcome::opened:
      return "opened";
    case open_checkout_result::outcome::insufficient_stock:
      return "insufficient_stock";
    case open_checkout_result::outcome::processing_exists:
      return "processing_exists";
  }
  return "?";
}

const char* what(place_order_result::outcome o) {
  switch (o) {
    case place_order_result::outcome::placed:
      return "placed";
    case place_order_result::outcome::already_placed:
      return "already_placed";
    case place_order_result::outcome::cart_changed:
      return "cart_changed";
    case place_order_result::outcome::expired:
      return "expired";
    case place_order_result::outcome::used_up:
      return "used_up";
    case place_order_result::outcome::not_found:
      return "not_found";
    case place_order_result::outcome::number_taken:
      return "number_taken";
  }
  return "?";
}

/// Runs fn(i) for i in [0, n) on n threads released at the same moment; returns how many threw
/// (a deadlock, a busy store or a broken constraint: a failure of the test, not a crash).
int run_at_once(int n, const std::function<void(int)>& fn) {
  std::atomic<int> ready{0};
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      ++ready;
      while (ready.load() < n) std::this_thread::yield();
      try {
        fn(i);
      } catch (const std::exception&) {
        ++failed;
      }
    });
  }
  for (auto& t : threads) t.join();
  return failed.load();
}

constexpr std::int64_t k_minute = 60'000;

std::vector<std::string> ids_of(const std::vector<order_record>& orders) {
  std::vector<std::string> out;
  for (const auto& o : orders) out.push_back(o.id);
  return out;
}

std::set<std::string> set_of(std::vector<std::string> ids) { return {ids.begin(), ids.end()}; }

/// One cart write as its own unit, conditional on the version last seen (0: must be new).
write_unit unit_of(const cart& c, std::uint64_t expected_version) {
  write_unit u;
  u.writes.push_back(cart_write{c, expected_version});
  return u;
}

class checkout_contract : public ::testing::TestWithParam<store_factory> {
 protected:
  void SetUp() override {
    auto name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::string clean;
    for (char c : std::string(name)) clean.push_back(std::isalnum(static_cast<unsigned char>(c)) ? c : '_');
    db = GetParam().make(clean);
    db->migrate();
  }

  /// A fresh id: no two tests (or calls) share one.
  static std::string fresh(const std::string& prefix) {
    return prefix + "-" + new_uuid_v7(now_ms());
  }

  /// Product `p` with one variant per (id, on hand), nothing reserved.
  void stock(const std::string& p, const std::vector<std::pair<std::string, std::int64_t>>& vs) {
    product prod{product_id{p}, "Tee", "USD", true, {}, now_ms(), now_ms()};
    for (const auto& [v, on_hand] : vs)
      prod.variants.push_back(variant{variant_id{v}, "sku-" + v, 1000, on_hand, 0});
    EXPECT_TRUE(db->upsert_product(prod));
  }

  variant variant_of(const std::string& p, const std::string& v) {
    if (auto prod = db->get_product(product_id{p}))
      for (const auto& x : prod->variants)
        if (x.id.value == v) return x;
    ADD_FAILURE() << "no variant " << p << "/" << v;
    return {};
  }
  std::int64_t on_hand(const std::string& p, const std::string& v) { return variant_of(p, v).stock; }
  std::int64_t reserved(const std::string& p, const std::string& v) {
    return variant_of(p, v).reserved;
  }
  std::int64_t available(const std::string& p, const std::string& v) {
    return variant_of(p, v).available();
  }

  static checkout_line line(const std::string& p, const std::string& v, std::int64_t q,
                            std::int64_t unit_price = 1000) {
    return checkout_line{item_id{fresh("item")}, product_id{p}, variant_id{v}, "Tee " + v, q,
                         unit_price};
  }

  /// A cart of `owner` holding `lines`, committed through the store (version 1).
  cart stored_cart(const principal& owner, const std::vector<checkout_line>& lines) {
    cart c = new_cart(cart_id{fresh("cart")}, owner, "USD", "", now_ms());
    for (const auto& l : lines)
      c.items.push_back(cart_item{l.item, l.product, l.variant, l.name,
                                  static_cast<std::int32_t>(l.quantity), l.unit_price, now_ms()});
    EXPECT_EQ(db->commit({unit_of(c, 0)}),
              std::vector<write_status>{write_status::committed});
    return c;
  }

  /// A session (not stored yet) checking out `c` at its version with `lines`, made at `at_ms`
  /// and due `ttl_ms` later.
  static checkout_session session_of(const cart& c, const std::vector<checkout_line>& lines,
                                     std::int64_t at_ms, std::int64_t ttl_ms = 15 * k_minute) {
    checkout_session s;
    s.id = fresh("co");
    s.cart = c.id;
    s.user_id = c.user_id;
    s.session_id = c.session_id;
    s.status = checkout_status::open;
    s.cart_version = c.version;
    s.shipping_address_json = R"({"city":"Springfield","country":"US","line1":"1 Main St"})";
    s.email = "buyer@example.com";
    s.lines = lines;
    s.totals.currency = "USD";
    for (const auto& l : lines) s.totals.subtotal += l.quantity * l.unit_price;
    s.totals.total = s.totals.subtotal;
    s.totals_json = "{\"total\":" + std::to_string(s.totals.total) + "}";
    s.expires_at_ms = at_ms + ttl_ms;
    s.created_at_ms = at_ms;
    s.updated_at_ms = at_ms;
    s.version = 1;
    return s;
  }

  /// A new stored cart of `owner` and its session (not opened yet).
  checkout_session checkout_for(const principal& owner, const std::vector<checkout_line>& lines,
                                std::int64_t at_ms = now_ms(),
                                std::int64_t ttl_ms = 15 * k_minute) {
    return session_of(stored_cart(owner, lines), lines, at_ms, ttl_ms);
  }

  /// `s` opened; a failure of the test unless it opened.
  checkout_session opened(const checkout_session& s) {
    auto r = db->open_checkout(s);
    EXPECT_STREQ(what(r.result), "opened") << s.id;
    return s;
  }

  /// The order payment of `s` makes (its first stored version is 1).
  order_record order_for(const checkout_session& s, std::int64_t at_ms,
                         payment_status paid = payment_status::authorized, std::string id = {}) {
    if (id.empty()) id = new_uuid_v7(at_ms);
    auto o = order_of(s, id, order_number(at_ms, ++number_seq_),
                      order_payment{"fake", "pay-" + id, paid, s.totals.total}, at_ms);
    o.version = 1;
    return o;
  }

  place_order_result place(const order_record& o, std::int64_t at_ms,
                           std::vector<discount_use> discounts = {},
                           std::vector<outbox_event> events = {}) {
    return db->place_order(place_order_request{o, std::move(discounts), std::move(events), at_ms});
  }

  /// A new cart of `owner` checked out into order `id` (one unit of a new product), placed at
  /// `at_ms`, its payment `paid`.
  order_record placed_order(const principal& owner, const std::string& id, std::int64_t at_ms,
                            payment_status paid = payment_status::authorized) {
    auto p = fresh("p");
    stock(p, {{"v", 10}});
    auto s = opened(checkout_for(owner, {line(p, "v", 1)}, at_ms));
    auto r = place(order_for(s, at_ms, paid, id), at_ms);
    EXPECT_STREQ(what(r.result), "placed") << id;
    return r.order;
  }

  /// `o` cancelled (its payment now `payment`), stored as the next version.
  bool cancel(const order_record& o, payment_status payment, bool restock,
              const std::vector<outbox_event>& events = {}) {
    auto next = with_status(o, order_status::cancelled, o.updated_at_ms + 1);
    next.payment.status = payment;
    next.version = o.version + 1;
    return db->update_order(next, restock, events);
  }

  std::int64_t discount_used(const std::string& id) {
    for (const auto& r : db->list_pricing_rules("discount"))
      if (r.id == id) return r.used;
    ADD_FAILURE() << "no discount " << id;
    return -1;
  }

  /// What is stored, or "missing" (a missing row fails the comparison instead of crashing).
  std::string checkout_status_of(const std::string& id) {
    auto s = db->load_checkout(id);
    return s ? to_string(s->status) : "missing";
  }
  std::string order_status_of(const std::string& id) {
    auto o = db->load_order(id);
    return o ? to_string(o->status) : "missing";
  }
  std::string ledger_status_of(const std::string& id) {
    auto p = db->ledger_get(id);
    return p ? p->status : "missing";
  }
  std::uint64_t cart_version_of(const cart_id& id) {
    auto c = db->load_cart(id);
    EXPECT_TRUE(c) << "no cart " << id.value;
    return c ? c->version : 0;
  }

  static order_query everyone(int limit = 100) {
    order_query q;
    q.all = true;
    q.limit = limit;
    return q;
  }

  std::unique_ptr<store> db;

 private:
  std::uint64_t number_seq_ = 0;
};

const principal alice{"alice", "", false};

// --- open_checkout: reservations ---

TEST_P(checkout_contract, opening_a_checkout_reserves_its_stock) {
  auto p = fresh("p");
  stock(p, {{"v", 10}});
  auto s = checkout_for(alice, {line(p, "v", 3)});
  auto r = db->open_checkout(s);
  EXPECT_STREQ(what(r.result), "opened");
  EXPECT_TRUE(r.shortages.empty());
  EXPECT_TRUE(r.replaced.empty());
  EXPECT_EQ(reserved(p, "v"), 3);
  EXPECT_EQ(available(p, "v"), 7);
  EXPECT_EQ(on_hand(p, "v"), 10);
  auto loaded = db->load_checkout(s.id);
  ASSERT_TRUE(loaded);
  EXPECT_STREQ(to_string(loaded->status), "open");
  EXPECT_EQ(loaded->cart, s.cart);
  EXPECT_EQ(loaded->cart_version, 1u);
  ASSERT_EQ(loaded->lines.size(), 1u);
  EXPECT_EQ(loaded->lines[0].quantity, 3);
  EXPECT_EQ(loaded->expires_at_ms, s.expires_at_ms);
  EXPECT_EQ(loaded->version, 1u);
  auto active = db->active_checkout_of(s.cart);
  ASSERT_TRUE(active);
  EXPECT_EQ(active->id, s.id);
  EXPECT_FALSE(db->load_checkout(fresh("co")));
}

TEST_P(checkout_contract, a_short_line_reserves_nothing_at_all) {
  auto p = fresh("p");
  stock(p, {{"v-a", 5}, {"v-b", 3}});
  // v-a fits and comes first; v-b is short: v-a must not stay reserved.
  auto s = checkout_for(alice, {line(p, "v-a", 2), line(p, "v-b", 4)});
  auto r = db->open_checkout(s);
  EXPECT_STREQ(what(r.result), "insufficient_stock");
  ASSERT_EQ(r.shortages.size(), 1u);
  EXPECT_EQ(r.shortages[0].product.value, p);
  EXPECT_EQ(r.shortages[0].variant.value, "v-b");
  EXPECT_EQ(r.shortages[0].requested, 4);
  EXPECT_EQ(r.shortages[0].available, 3);
  EXPECT_EQ(reserved(p, "v-a"), 0);
  EXPECT_EQ(reserved(p, "v-b"), 0);
  EXPECT_FALSE(db->load_checkout(s.id));
  EXPECT_FALSE(db->active_checkout_of(s.cart));
}

TEST_P(checkout_contract, lines_of_one_variant_reserve_together) {
  auto p = fresh("p");
  stock(p, {{"v", 5}});
  auto too_many = checkout_for(alice, {line(p, "v", 3), line(p, "v", 3)});
  auto r = db->open_checkout(too_many);
  EXPECT_STREQ(what(r.result), "insufficient_stock");
  ASSERT_EQ(r.shortages.size(), 1u);
  EXPECT_EQ(r.shortages[0].requested, 6);  // the sum, not each line alone
  EXPECT_EQ(r.shortages[0].available, 5);
  EXPECT_EQ(reserved(p, "v"), 0);
  auto fits = checkout_for(alice, {line(p, "v", 3), line(p, "v", 2)});
  EXPECT_STREQ(what(db->open_checkout(fits).result), "opened");
  EXPECT_EQ(reserved(p, "v"), 5);
  EXPECT_EQ(available(p, "v"), 0);
}

TEST_P(checkout_contract, a_new_checkout_of_the_cart_replaces_the_open_one) {
  auto p = fresh("p");
  stock(p, {{"v", 5}});
  auto c = stored_cart(alice, {line(p, "v", 4)});
  auto first = opened(session_of(c, {line(p, "v", 4)}, now_ms()));
  ASSERT_EQ(reserved(p, "v"), 4);
  // 5 fit only if the first session's 4 are released before the second reserves.
  auto second = session_of(c, {line(p, "v", 5)}, now_ms());
  auto r = db->open_checkout(second);
  EXPECT_STREQ(what(r.result), "opened");
  EXPECT_EQ(r.replaced, std::vector<std::string>{first.id});
  EXPECT_EQ(reserved(p, "v"), 5);
  auto old = db->load_checkout(first.id);
  ASSERT_TRUE(old);
  EXPECT_STREQ(to_string(old->status), "expired");
  auto active = db->active_checkout_of(c.id);
  ASSERT_TRUE(active);
  EXPECT_EQ(active->id, second.id);
}

TEST_P(checkout_contract, a_replacement_that_does_not_fit_leaves_the_open_one) {
  auto p = fresh("p");
  stock(p, {{"v", 5}});
  auto c = stored_cart(alice, {line(p, "v", 2)});
  auto first = opened(session_of(c, {line(p, "v", 2)}, now_ms()));
  auto r = db->open_checkout(session_of(c, {line(p, "v", 6)}, now_ms()));
  EXPECT_STREQ(what(r.result), "insufficient_stock");
  EXPECT_TRUE(r.replaced.empty());
  EXPECT_EQ(reserved(p, "v"), 2);
  auto old = db->load_checkout(first.id);
  ASSERT_TRUE(old);
  EXPECT_STREQ(to_string(old->status), "open");
}

TEST_P(checkout_contract, a_session_is_updated_only_from_the_version_it_was_read_at) {
  auto p = fresh("p");
  stock(p, {{"v", 5}});
  auto s = opened(checkout_for(alice, {line(p, "v", 1)}));
  auto next = s;
  next.status = checkout_status::processing;
  next.payment_attempts = 1;
  next.payment_id = "pay-1";
  next.version = s.version + 1;
  EXPECT_TRUE(db->update_checkout(next));
  EXPECT_FALSE(db->update_checkout(next));  // it is at version 2 now
  auto skipped = next;
  skipped.version = next.version + 2;
  EXPECT_FALSE(db->update_checkout(skipped));
  auto loaded = db->load_checkout(s.id);
  ASSERT_TRUE(loaded);
  EXPECT_STREQ(to_string(loaded->status), "processing");
  EXPECT_EQ(loaded->version, 2u);
  EXPECT_EQ(loaded->payment_attempts, 1);
  EXPECT_EQ(loaded->payment_id, "pay-1");
}

TEST_P(checkout_contract, a_processing_session_blocks_a_new_checkout) {
  auto p = fresh("p");
  stock(p, {{"v", 5}});
  auto c = stored_cart(alice, {line(p, "v", 2)});
  auto paying = opened(session_of(c, {line(p, "v", 2)}, now_ms()));
  auto next = paying;
  next.status = checkout_status::processing;
  next.version = paying.version + 1;
  ASSERT_TRUE(db->update_checkout(next));
  auto again = session_of(c, {line(p, "v", 1)}, now_ms());
  auto r = db->open_checkout(again);
  EXPECT_STREQ(what(r.result), "processing_exists");
  EXPECT_TRUE(r.replaced.empty());
  EXPECT_EQ(reserved(p, "v"), 2);
  EXPECT_FALSE(db->load_checkout(again.id));
  auto still = db->load_checkout(paying.id);
  ASSERT_TRUE(still);
  EXPECT_STREQ(to_string(still->status), "processing");
  EXPECT_EQ(still->version, 2u);
  auto active = db->active_checkout_of(c.id);
  ASSERT_TRUE(active);
  EXPECT_EQ(active->id, paying.id);
}

TEST_P(checkout_contract, processing_sessions_are_listed_for_reconciliation) {
  auto p = fresh("p");
  stock(p, {{"v", 5}});
  opened(checkout_for(alice, {line(p, "v", 1)}));
  auto paying = opened(checkout_for(alice, {line(p, "v", 1)}));
  auto next = paying;
  next.status = checkout_status::processing;
  next.version = paying.version + 1;
  ASSERT_TRUE(db->update_checkout(next));
  auto list = db->processing_checkouts(10);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].id, paying.id);
}

// --- expire_checkout ---

TEST_P(checkout_contract, a_due_session_is_expired_and_released_exactly_once) {
  auto p = fresh("p");
  stock(p, {{"v", 10}});
  const auto now = now_ms();
  opened(checkout_for(alice, {line(p, "v", 2)}, now));  // another cart's hold stays
  auto due = opened(checkout_for(alice, {line(p, "v", 3)}, now - 20 * k_minute, 5 * k_minute));
  ASSERT_EQ(reserved(p, "v"), 5);
  std::atomic<int> expired{0};
  EXPECT_EQ(run_at_once(8, [&](int) {
              if (db->expire_checkout(due.id, now, false)) ++expired;
            }),
            0);
  EXPECT_EQ(expired.load(), 1);
  EXPECT_EQ(reserved(p, "v"), 2);  // 3 released once: neither kept nor released twice
  EXPECT_EQ(available(p, "v"), 8);
  auto loaded = db->load_checkout(due.id);
  ASSERT_TRUE(loaded);
  EXPECT_STREQ(to_string(loaded->status), "expired");
  EXPECT_FALSE(db->expire_checkout(due.id, now, true));  // already expired: nothing to do
  EXPECT_EQ(reserved(p, "v"), 2);
}

TEST_P(checkout_contract, a_session_not_due_expires_only_when_forced) {
  auto p = fresh("p");
  stock(p, {{"v", 10}});
  const auto now = now_ms();
  auto s = opened(checkout_for(alice, {line(p, "v", 4)}, now));
  EXPECT_FALSE(db->expire_checkout(s.id, now, false));
  EXPECT_EQ(reserved(p, "v"), 4);
  EXPECT_EQ(checkout_status_of(s.id), "open");
  EXPECT_TRUE(db->expire_checkout(s.id, now, true));
  EXPECT_EQ(reserved(p, "v"), 0);
  EXPECT_EQ(checkout_status_of(s.id), "expired");
  EXPECT_FALSE(db->expire_checkout(fresh("co"), now, true));  // unknown
}

TEST_P(checkout_contract, due_checkouts_lists_due_live_sessions_only) {
  auto p = fresh("p");
  stock(p, {{"v", 50}});
  const auto now = now_ms();
  const auto past = now - 30 * k_minute;
  auto due_open = opened(checkout_for(alice, {line(p, "v", 1)}, past, 10 * k_minute));
  auto due_processing = opened(checkout_for(alice, {line(p, "v", 1)}, past, 10 * k_minute));
  auto next = due_processing;
  next.status = checkout_status::processing;
  next.version = due_processing.version + 1;
  ASSERT_TRUE(db->update_checkout(next));
  opened(checkout_for(alice, {line(p, "v", 1)}, now));  // not due yet
  auto gone = opened(checkout_for(alice, {line(p, "v", 1)}, past, 10 * k_minute));
  ASSERT_TRUE(db->expire_checkout(gone.id, now, false));  // due, but expired already
  EXPECT_EQ(set_of(db->due_checkouts(now, 100)),
            (std::set<std::string>{due_open.id, due_processing.id}));
  EXPECT_EQ(db->due_checkouts(now, 1).size(), 1u);
  EXPECT_TRUE(db->due_checkouts(past, 100).empty());
}

TEST_P(checkout_contract, the_last_units_go_to_exactly_as_many_checkouts) {
  auto p = fresh("p");
  stock(p, {{"v", 5}});
  std::vector<checkout_session> sessions;
  for (int i = 0; i < 20; ++i) sessions.push_back(checkout_for(alice, {line(p, "v", 1)}));
  std::atomic<int> won{0};
  std::atomic<int> short_of_stock{0};
  EXPECT_EQ(run_at_once(20, [&](int i) {
              auto r = db->open_checkout(sessions[static_cast<std::size_t>(i)]);
              if (r.result == open_checkout_result::outcome::opened) ++won;
              if (r.result == open_checkout_result::outcome::insufficient_stock) ++short_of_stock;
            }),
            0);
  EXPECT_EQ(won.load(), 5);
  EXPECT_EQ(short_of_stock.load(), 15);
  EXPECT_EQ(reserved(p, "v"), 5);
  EXPECT_EQ(available(p, "v"), 0);
  int live = 0;
  for (const auto& s : sessions) live += db->load_checkout(s.id) ? 1 : 0;
  EXPECT_EQ(live, 5);
}

// --- place_order ---

TEST_P(checkout_contract, placing_the_order_checks_the_cart_out_and_commits_the_stock) {
  auto p = fresh("p");
  stock(p, {{"v", 10}});
  auto s = opened(checkout_for(alice, {line(p, "v", 3)}));
  const auto now = now_ms();
  auto o = order_for(s, now);
  auto r = place(o, now, {}, {outbox_event{s.cart.value, "order_placed", "{\"id\":\"" + o.id + "\"}"}});
  EXPECT_STREQ(what(r.result), "placed");
  EXPECT_EQ(r.order.id, o.id);
  auto loaded = db->load_order(o.id);
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded->order_number, o.order_number);
  EXPECT_EQ(loaded->checkout_id, s.id);
  EXPECT_EQ(loaded->user_id, "alice");
  EXPECT_STREQ(to_string(loaded->status), "paid");
  ASSERT_EQ(loaded->items.size(), 1u);
  EXPECT_EQ(loaded->items[0].quantity, 3);
  EXPECT_EQ(loaded->totals.total, 3000);
  EXPECT_EQ(loaded->version, 1u);
  auto c = db->load_cart(s.cart);
  ASSERT_TRUE(c);
  EXPECT_STREQ(to_string(c->status), "checked_out");
  EXPECT_EQ(c->version, 2u);
  EXPECT_EQ(on_hand(p, "v"), 7);
  EXPECT_EQ(reserved(p, "v"), 0);
  auto done = db->load_checkout(s.id);
  ASSERT_TRUE(done);
  EXPECT_STREQ(to_string(done->status), "completed");
  EXPECT_EQ(done->order_id, o.id);
  EXPECT_FALSE(db->active_checkout_of(s.cart));
  auto events = db->fetch_outbox(10);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].event.type, "order_placed");
  EXPECT_EQ(events[0].event.cart_id, s.cart.value);
}

TEST_P(checkout_contract, placing_again_answers_with_the_first_order) {
  auto p = fresh("p");
  stock(p, {{"v", 10}});
  auto s = opened(checkout_for(alice, {line(p, "v", 2)}));
  const auto now = now_ms();
  auto first = order_for(s, now);
  ASSERT_STREQ(what(place(first, now).result), "placed");
  auto retry = order_for(s, now + 1);  // another id and number: a retry that lost its answer
  auto r = place(retry, now + 1);
  EXPECT_STREQ(what(r.result), "already_placed");
  EXPECT_EQ(r.order.id, first.id);
  EXPECT_EQ(r.order.order_number, first.order_number);
  EXPECT_FALSE(db->load_order(retry.id));
  EXPECT_EQ(on_hand(p, "v"), 8);
  EXPECT_EQ(db->list_orders(everyone()).size(), 1u);
}

TEST_P(checkout_contract, an_order_number_already_taken_writes_nothing_and_another_is_placed) {
  auto p = fresh("p");
  stock(p, {{"v", 10}});
  const auto now = now_ms();
  auto first_session = opened(checkout_for(alice, {line(p, "v", 1)}));
  auto first = order_for(first_session, now);
  ASSERT_STREQ(what(place(first, now).result), "placed");
  // Another checkout draws the same number: nothing of it is written, its stock stays
  // reserved, its session open and its cart active, so the caller can draw again.
  auto s = opened(checkout_for(alice, {line(p, "v", 2)}));
  auto clash = order_for(s, now + 1);
  clash.order_number = first.order_number;
  auto events = std::vector<outbox_event>{{s.cart.value, "order_placed", "{}"}};
  auto r = place(clash, now + 1, {}, events);
  EXPECT_STREQ(what(r.result), "number_taken");
  EXPECT_FALSE(db->load_order(clash.id));
  EXPECT_EQ(on_hand(p, "v"), 9);
  EXPECT_EQ(db->list_orders(everyone()).size(), 1u);
  EXPECT_TRUE(db->active_checkout_of(s.cart));
  // A fresh number places it.
  auto again = order_for(s, now + 2);
  ASSERT_NE(again.order_number, first.order_number);
  EXPECT_STREQ(what(place(again, now + 2, {}, events).result), "placed");
  EXPECT_EQ(on_hand(p, "v"), 7);
  EXPECT_EQ(db->list_orders(everyone()).size(), 2u);
}

TEST_P(checkout_contract, racing_placements_of_a_session_make_one_order) {
  auto p = fresh("p");
  stock(p, {{"v", 10}});
  auto s = opened(checkout_for(alice, {line(p, "v", 3)}));
  const auto now = now_ms();
  std::vector<order_record> attempts;
  for (int i = 0; i < 8; ++i) attempts.push_back(order_for(s, now + i));
  std::vector<place_order_result> results(8);
  EXPECT_EQ(run_at_once(8, [&](int i) {
              auto k = static_cast<std::size_t>(i);
              results[k] = place(attempts[k], now + 8);
            }),
            0);
  int placed = 0, already = 0;
  std::set<std::string> answered;
  for (const auto& r : results) {
    placed += r.result == place_order_result::outcome::placed ? 1 : 0;
    already += r.result == place_order_result::outcome::already_placed ? 1 : 0;
    answered.insert(r.order.id);
  }
  EXPECT_EQ(placed, 1);
  EXPECT_EQ(already, 7);
  ASSERT_EQ(answered.size(), 1u);  // every answer names the one order
  auto orders = db->list_orders(everyone());
  ASSERT_EQ(orders.size(), 1u);
  EXPECT_EQ(orders[0].id, *answered.begin());
  EXPECT_EQ(on_hand(p, "v"), 7);  // committed once
  EXPECT_EQ(reserved(p, "v"), 0);
  EXPECT_EQ(cart_version_of(s.cart), 2u);
}

TEST_P(checkout_contract, a_cart_changed_since_the_session_places_no_order) {
  auto p = fresh("p");
  stock(p, {{"v", 10}});
  auto c = stored_cart(alice, {line(p, "v", 3)});
  auto s = opened(session_of(c, {line(p, "v", 3)}, now_ms()));
  auto moved = c;
  moved.items[0].quantity = 4;
  moved.version = 2;
  ASSERT_EQ(db->commit({unit_of(moved, 1)}),
            std::vector<write_status>{write_status::committed});
  const auto now = now_ms();
  auto o = order_for(s, now);
  EXPECT_STREQ(what(place(o, now).result), "cart_changed");
  EXPECT_FALSE(db->load_order(o.id));
  EXPECT_EQ(reserved(p, "v"), 3);  // still held
  EXPECT_EQ(on_hand(p, "v"), 10);
  auto still = db->load_checkout(s.id);
  ASSERT_TRUE(still);
  EXPECT_STREQ(to_string(still->status), "open");
  auto cart_now = db->load_cart(c.id);
  ASSERT_TRUE(cart_now);
  EXPECT_STREQ(to_string(cart_now->status), "active");
  EXPECT_EQ(cart_now->version, 2u);
  EXPECT_TRUE(db->fetch_outbox(10).empty());
}

TEST_P(checkout_contract, an_expired_session_places_no_order) {
  auto p = fresh("p");
  stock(p, {{"v", 10}});
  auto s = opened(checkout_for(alice, {line(p, "v", 3)}));
  const auto now = now_ms();
  ASSERT_TRUE(db->expire_checkout(s.id, now, true));
  auto o = order_for(s, now);
  EXPECT_STREQ(what(place(o, now).result), "expired");
  EXPECT_FALSE(db->load_order(o.id));
  EXPECT_EQ(on_hand(p, "v"), 10);
  EXPECT_EQ(reserved(p, "v"), 0);
  auto c = db->load_cart(s.cart);
  ASSERT_TRUE(c);
  EXPECT_STREQ(to_string(c->status), "active");
  EXPECT_EQ(c->version, 1u);
  EXPECT_EQ(checkout_status_of(s.id), "expired");
}

TEST_P(checkout_contract, a_session_past_its_expiry_places_no_order) {
  auto p = fresh("p");
  stock(p, {{"v", 10}});
  const auto now = now_ms();
  auto s = opened(checkout_for(alice, {line(p, "v", 3)}, now - 20 * k_minute, 5 * k_minute));
  auto o = order_for(s, now);
  EXPECT_STREQ(what(place(o, now).result), "expired");  // due, though no sweeper has run yet
  EXPECT_FALSE(db->load_order(o.id));
  EXPECT_EQ(on_hand(p, "v"), 10);
  auto c = db->load_cart(s.cart);
  ASSERT_TRUE(c);
  EXPECT_STREQ(to_string(c->status), "active");
  EXPECT_EQ(c->version, 1u);
}

TEST_P(checkout_contract, an_unknown_session_places_no_order) {
  auto p = fresh("p");
  stock(p, {{"v", 10}});
  auto s = checkout_for(alice, {line(p, "v", 1)});  // never opened
  const auto now = now_ms();
  auto o = order_for(s, now);
  EXPECT_STREQ(what(place(o, now).result), "not_found");
  EXPECT_FALSE(db->load_order(o.id));
}

TEST_P(checkout_contract, orders_racing_for_a_discount_stop_at_its_usage_limit) {
  constexpr int k_limit = 3;
  constexpr int k_orders = k_limit + 3;
  auto d = fresh("d");
  ASSERT_TRUE(db->put_pricing_rule(
      pricing_rule{"discount", d, "", "{\"usageLimit\":" + std::to_string(k_limit) + "}"}));
  auto p = fresh("p");
  stock(p, {{"v", 100}});
  const auto now = now_ms();
  std::vector<checkout_session> sessions;
  std::vector<order_record> orders;
  for (int i = 0; i < k_orders; ++i) {
    auto s = checkout_for(alice, {line(p, "v", 1)}, now);
    s.discounts = {discount_use{d, k_limit}};
    sessions.push_back(opened(s));
    orders.push_back(order_for(s, now + i));
  }
  std::vector<place_order_result> results(k_orders);
  EXPECT_EQ(run_at_once(k_orders, [&](int i) {
              auto k = static_cast<std::size_t>(i);
              results[k] = place(orders[k], now + k_orders, {discount_use{d, k_limit}});
            }),
            0);
  int placed = 0, used_up = 0;
  for (std::size_t i = 0; i < results.size(); ++i) {
    if (results[i].result == place_order_result::outcome::placed) {
      ++placed;
      continue;
    }
    EXPECT_STREQ(what(results[i].result), "used_up");
    used_up += results[i].result == place_order_result::outcome::used_up ? 1 : 0;
    // A refused order changed nothing: its session and cart are as they were.
    EXPECT_FALSE(db->load_order(orders[i].id));
    EXPECT_EQ(checkout_status_of(sessions[i].id), "open");
    EXPECT_EQ(cart_version_of(sessions[i].cart), 1u);
  }
  EXPECT_EQ(placed, k_limit);
  EXPECT_EQ(used_up, k_orders - k_limit);
  EXPECT_EQ(discount_used(d), k_limit);
  EXPECT_EQ(on_hand(p, "v"), 100 - k_limit);
  EXPECT_EQ(reserved(p, "v"), k_orders - k_limit);  // the refused ones still hold theirs
}

// --- update_order ---

TEST_P(checkout_contract, a_cancel_with_restock_returns_the_stock_and_the_discount_use) {
  auto d = fresh("d");
  ASSERT_TRUE(db->put_pricing_rule(pricing_rule{"discount", d, "", "{\"usageLimit\":5}"}));
  auto p = fresh("p");
  stock(p, {{"v", 10}});
  auto s = checkout_for(alice, {line(p, "v", 2)});
  s.discounts = {discount_use{d, 5}};
  opened(s);
  const auto now = now_ms();
  auto r = place(order_for(s, now), now, {discount_use{d, 5}});
  ASSERT_STREQ(what(r.result), "placed");
  ASSERT_EQ(on_hand(p, "v"), 8);
  ASSERT_EQ(discount_used(d), 1);
  EXPECT_TRUE(cancel(r.order, payment_status::voided, true,
                     {outbox_event{s.cart.value, "order_cancelled", "{}"}}));
  EXPECT_EQ(on_hand(p, "v"), 10);
  EXPECT_EQ(reserved(p, "v"), 0);
  EXPECT_EQ(discount_used(d), 0);
  auto loaded = db->load_order(r.order.id);
  ASSERT_TRUE(loaded);
  EXPECT_STREQ(to_string(loaded->status), "cancelled");
  EXPECT_STREQ(to_string(loaded->payment.status), "voided");
  EXPECT_EQ(loaded->version, 2u);
  EXPECT_EQ(loaded->history.size(), 2u);
  auto events = db->fetch_outbox(10);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].event.type, "order_cancelled");
  // The same cancel again is stale now: the stock and the use come back once.
  EXPECT_FALSE(cancel(r.order, payment_status::voided, true));
  EXPECT_EQ(on_hand(p, "v"), 10);
  EXPECT_EQ(discount_used(d), 0);
}

TEST_P(checkout_contract, a_stale_order_update_changes_nothing) {
  auto d = fresh("d");
  ASSERT_TRUE(db->put_pricing_rule(pricing_rule{"discount", d, "", "{}"}));
  auto p = fresh("p");
  stock(p, {{"v", 10}});
  auto s = opened(checkout_for(alice, {line(p, "v", 1)}));
  const auto now = now_ms();
  auto r = place(order_for(s, now), now, {discount_use{d, std::nullopt}});
  ASSERT_STREQ(what(r.result), "placed");
  for (std::uint64_t v : {r.order.version, r.order.version + 2}) {
    auto stale = with_status(r.order, order_status::cancelled, now + 1);
    stale.version = v;  // not the stored version + 1
    EXPECT_FALSE(db->update_order(stale, true, {outbox_event{s.cart.value, "order_cancelled", "{}"}}))
        << v;
  }
  auto loaded = db->load_order(r.order.id);
  ASSERT_TRUE(loaded);
  EXPECT_STREQ(to_string(loaded->status), "paid");
  EXPECT_EQ(loaded->version, 1u);
  EXPECT_EQ(on_hand(p, "v"), 9);
  EXPECT_EQ(discount_used(d), 1);
  EXPECT_TRUE(db->fetch_outbox(10).empty());
}

TEST_P(checkout_contract, an_order_update_without_restock_leaves_the_stock_alone) {
  auto p = fresh("p");
  stock(p, {{"v", 10}});
  auto s = opened(checkout_for(alice, {line(p, "v", 2)}));
  const auto now = now_ms();
  auto r = place(order_for(s, now), now);
  ASSERT_STREQ(what(r.result), "placed");
  auto fulfilled = with_status(r.order, order_status::fulfilled, now + 1);
  fulfilled.version = r.order.version + 1;
  EXPECT_TRUE(db->update_order(fulfilled, false, {}));
  EXPECT_EQ(order_status_of(r.order.id), "fulfilled");
  EXPECT_EQ(on_hand(p, "v"), 8);
}

// --- list_orders, orders_to_settle ---

TEST_P(checkout_contract, owners_list_their_own_orders_only) {
  const auto now = now_ms();
  auto a1 = placed_order(alice, new_uuid_v7(now), now);
  auto a2 = placed_order(alice, new_uuid_v7(now + 1), now + 1);
  auto b = placed_order(principal{"bob", "", false}, new_uuid_v7(now + 2), now + 2);
  auto g = placed_order(principal{"", "guest-1", false}, new_uuid_v7(now + 3), now + 3);
  order_query mine;
  mine.user_id = "alice";
  EXPECT_EQ(set_of(ids_of(db->list_orders(mine))), (std::set<std::string>{a1.id, a2.id}));
  order_query guest;
  guest.session_id = "guest-1";
  EXPECT_EQ(ids_of(db->list_orders(guest)), std::vector<std::string>{g.id});
  order_query other_guest;
  other_guest.session_id = "guest-2";
  EXPECT_TRUE(db->list_orders(other_guest).empty());
  EXPECT_TRUE(db->list_orders(order_query{}).empty());  // nobody: not everything
  EXPECT_EQ(set_of(ids_of(db->list_orders(everyone()))),
            (std::set<std::string>{a1.id, a2.id, b.id, g.id}));
}

TEST_P(checkout_contract, orders_are_listed_by_status) {
  const auto now = now_ms();
  auto a = placed_order(alice, new_uuid_v7(now), now);
  auto b = placed_order(alice, new_uuid_v7(now + 1), now + 1);
  auto c = placed_order(principal{"bob", "", false}, new_uuid_v7(now + 2), now + 2);
  ASSERT_TRUE(cancel(b, payment_status::voided, true));
  auto q = everyone();
  q.status = order_status::cancelled;
  EXPECT_EQ(ids_of(db->list_orders(q)), std::vector<std::string>{b.id});
  q.status = order_status::paid;
  EXPECT_EQ(set_of(ids_of(db->list_orders(q))), (std::set<std::string>{a.id, c.id}));
  order_query mine;
  mine.user_id = "alice";
  mine.status = order_status::paid;
  EXPECT_EQ(ids_of(db->list_orders(mine)), std::vector<std::string>{a.id});
  mine.status = order_status::shipped;
  EXPECT_TRUE(db->list_orders(mine).empty());
}

TEST_P(checkout_contract, order_pages_go_newest_first_and_show_each_order_once) {
  const auto base = now_ms();
  std::vector<std::string> made;
  for (int i = 0; i < 7; ++i) {
    auto at = base + i;  // increasing ms: time-ordered ids
    made.push_back(placed_order(alice, new_uuid_v7(at), at).id);
  }
  placed_order(principal{"bob", "", false}, new_uuid_v7(base + 7), base + 7);  // not alice's
  std::vector<std::string> newest_first(made.rbegin(), made.rend());
  order_query q;
  q.user_id = "alice";
  q.limit = 3;
  std::vector<std::string> seen;
  std::vector<std::size_t> sizes;
  for (int page = 0; page < 10; ++page) {
    auto ids = ids_of(db->list_orders(q));
    sizes.push_back(ids.size());
    if (ids.empty()) break;
    seen.insert(seen.end(), ids.begin(), ids.end());
    q.after_id = ids.back();
  }
  EXPECT_EQ(seen, newest_first);
  EXPECT_EQ(sizes, (std::vector<std::size_t>{3, 3, 1, 0}));
  // `all` pages the same way over everyone's.
  auto first = db->list_orders(everyone(2));
  ASSERT_EQ(first.size(), 2u);
  auto q2 = everyone(100);
  q2.after_id = first.back().id;
  EXPECT_EQ(first.size() + db->list_orders(q2).size(), 8u);
}

TEST_P(checkout_contract, cancelled_orders_still_holding_money_are_to_settle) {
  const auto now = now_ms();
  placed_order(alice, new_uuid_v7(now), now);  // paid, authorized: nothing to settle
  placed_order(alice, new_uuid_v7(now + 1), now + 1, payment_status::captured);
  auto held = placed_order(alice, new_uuid_v7(now + 2), now + 2);
  auto charged = placed_order(alice, new_uuid_v7(now + 3), now + 3, payment_status::captured);
  auto voided = placed_order(alice, new_uuid_v7(now + 4), now + 4);
  auto refunded = placed_order(alice, new_uuid_v7(now + 5), now + 5, payment_status::captured);
  ASSERT_TRUE(cancel(held, payment_status::authorized, true));  // the void did not finish
  ASSERT_TRUE(cancel(charged, payment_status::captured, true));  // the refund did not finish
  ASSERT_TRUE(cancel(voided, payment_status::voided, true));
  ASSERT_TRUE(cancel(refunded, payment_status::refunded, true));
  EXPECT_EQ(set_of(ids_of(db->orders_to_settle(100))),
            (std::set<std::string>{held.id, charged.id}));
}

TEST_P(checkout_contract, placed_orders_still_only_authorized_are_to_capture) {
  const auto now = now_ms();
  auto held = placed_order(alice, new_uuid_v7(now), now);  // paid, authorized
  placed_order(alice, new_uuid_v7(now + 1), now + 1, payment_status::captured);
  auto cancelled = placed_order(alice, new_uuid_v7(now + 2), now + 2);
  ASSERT_TRUE(cancel(cancelled, payment_status::authorized, true));
  auto fresh = placed_order(alice, new_uuid_v7(now + 10), now + 10);  // placed after the cut
  auto found = set_of(ids_of(db->orders_to_capture(now + 5, 100)));
  EXPECT_TRUE(found.count(held.id));
  EXPECT_FALSE(found.count(cancelled.id));
  EXPECT_FALSE(found.count(fresh.id));
}

// --- The payment ledger ---

ledger_payment payment(const std::string& id, const std::string& key, const std::string& ref,
                       std::int64_t amount, std::int64_t at_ms,
                       const std::string& status = "authorized") {
  return ledger_payment{id, key, ref, amount, "USD", status, at_ms};
}

TEST_P(checkout_contract, a_ledger_insert_with_a_known_key_returns_the_first_payment) {
  const auto now = now_ms();
  auto key = fresh("key");
  auto ref = fresh("co");
  auto first = db->ledger_insert(payment(fresh("pay"), key, ref, 2500, now));
  auto second = db->ledger_insert(payment(fresh("pay"), key, ref, 9900, now + 1, "declined"));
  EXPECT_EQ(second.id, first.id);
  EXPECT_EQ(second.amount, 2500);
  EXPECT_EQ(second.status, "authorized");
  EXPECT_EQ(second.created_at_ms, now);
  auto by_key = db->ledger_by_key(key);
  ASSERT_TRUE(by_key);
  EXPECT_EQ(by_key->id, first.id);
  EXPECT_EQ(by_key->reference, ref);
  EXPECT_EQ(by_key->currency, "USD");
  EXPECT_EQ(db->ledger_by_reference(ref).size(), 1u);
  EXPECT_FALSE(db->ledger_by_key(fresh("key")));
}

TEST_P(checkout_contract, a_ledger_payment_moves_only_from_the_expected_status) {
  auto p = db->ledger_insert(payment(fresh("pay"), fresh("key"), fresh("co"), 1000, now_ms()));
  EXPECT_TRUE(db->ledger_move(p.id, "authorized", "captured"));
  EXPECT_FALSE(db->ledger_move(p.id, "authorized", "voided"));  // captured now
  EXPECT_EQ(ledger_status_of(p.id), "captured");
  EXPECT_TRUE(db->ledger_move(p.id, "captured", "refunded"));
  EXPECT_FALSE(db->ledger_move(p.id, "captured", "refunded"));  // once
  EXPECT_EQ(ledger_status_of(p.id), "refunded");
  EXPECT_FALSE(db->ledger_move(fresh("pay"), "authorized", "captured"));
  EXPECT_FALSE(db->ledger_get(fresh("pay")));
}

TEST_P(checkout_contract, ledger_payments_are_found_by_their_reference) {
  const auto now = now_ms();
  auto ref = fresh("co");
  auto other = fresh("co");
  auto a = db->ledger_insert(payment(fresh("pay"), fresh("key"), ref, 1000, now, "declined"));
  auto b = db->ledger_insert(payment(fresh("pay"), fresh("key"), ref, 1000, now + 1));
  auto c = db->ledger_insert(payment(fresh("pay"), fresh("key"), other, 500, now + 2));
  std::vector<std::string> ids;
  for (const auto& x : db->ledger_by_reference(ref)) ids.push_back(x.id);
  EXPECT_EQ(ids, (std::vector<std::string>{a.id, b.id}));  // in the order they were made
  auto others = db->ledger_by_reference(other);
  ASSERT_EQ(others.size(), 1u);
  EXPECT_EQ(others[0].id, c.id);
  EXPECT_EQ(others[0].amount, 500);
  EXPECT_TRUE(db->ledger_by_reference(fresh("co")).empty());
}

TEST_P(checkout_contract, a_give_back_is_kept_once_until_it_is_forgotten) {
  const auto now = now_ms();
  auto first = fresh("pay");
  auto later = fresh("pay");
  db->remember_give_back(payment_give_back{first, "authorized", 1250, now - 5000});
  db->remember_give_back(payment_give_back{first, "authorized", 1250, now - 4000});  // kept once
  db->remember_give_back(payment_give_back{later, "captured", 700, now});
  auto mine = [&](std::int64_t before) {
    std::vector<payment_give_back> out;
    for (auto& g : db->give_backs_due(before, 1000))
      if (g.payment_id == first || g.payment_id == later) out.push_back(g);
    return out;
  };
  auto due = mine(now - 1000);  // only the one remembered before
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].payment_id, first);
  EXPECT_EQ(due[0].status, "authorized");
  EXPECT_EQ(due[0].amount, 1250);
  EXPECT_EQ(due[0].created_at_ms, now - 5000);
  EXPECT_EQ(mine(now + 1).size(), 2u);
  db->forget_give_back(first);
  auto left = mine(now + 1);
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].payment_id, later);
  db->forget_give_back(later);
  db->forget_give_back(later);  // forgetting twice is harmless
  EXPECT_TRUE(mine(now + 1).empty());
}

INSTANTIATE_TEST_SUITE_P(stores, checkout_contract, ::testing::ValuesIn(factories()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace cartd
