#include "persistence/sqlite_store.hpp"

#include <atomic>
#include <chrono>
#include <filesystem>

#include "persistence/snapshot_codec.hpp"
#include "persistence/sqlite_checkout.hpp"
#include "persistence/sqlite_db.hpp"
#include "persistence/sqlite_migrations.hpp"

namespace cartd {

namespace {

using sqlite::statement;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

constexpr const char* k_load_cart = "SELECT snapshot FROM carts WHERE id = ?1";
constexpr const char* k_insert_cart =
    "INSERT INTO carts (id, user_id, session_id, status, version, snapshot, created_at, updated_at)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (id) DO NOTHING";
// Owners never change after creation: leaving user_id and session_id out of the SET list spares
// SQLite rewriting their index entries on every write.
constexpr const char* k_update_cart =
    "UPDATE carts SET status = ?4, version = ?5, snapshot = ?6, updated_at = ?8"
    " WHERE id = ?1 AND version = ?9";
constexpr const char* k_list_carts =
    "SELECT snapshot FROM carts WHERE (user_id = ?1 OR session_id = ?2) AND status <> 'deleted'"
    " AND (?3 IS NULL OR (status <> 'active') > ?3 OR ((status <> 'active') = ?3"
    " AND (created_at < ?4 OR (created_at = ?4 AND id < ?5))))"
    " ORDER BY status <> 'active', created_at DESC, id DESC LIMIT ?6";
constexpr const char* k_count_active_carts =
    "SELECT count(*) FROM (SELECT 1 FROM carts WHERE (user_id = ?1 OR session_id = ?2)"
    " AND status = 'active' LIMIT ?3)";
constexpr const char* k_list_products =
    "SELECT id FROM products WHERE active = 1 AND (?1 = '' OR instr(lower(name), lower(?1)) > 0)"
    " AND (?2 IS NULL OR created_at < ?2 OR (created_at = ?2 AND id < ?3))"
    " ORDER BY created_at DESC, id DESC LIMIT ?4";

constexpr const char* k_product_exists = "SELECT 1 FROM products WHERE id = ?1";
constexpr const char* k_upsert_product =
    "INSERT INTO products (id, name, currency, active, created_at, updated_at)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?5) ON CONFLICT (id) DO UPDATE SET name = excluded.name,"
    " currency = excluded.currency, active = excluded.active, updated_at = excluded.updated_at";
constexpr const char* k_upsert_variant =
    "INSERT INTO variants (product_id, id, sku, price, on_hand, position, name, options)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (product_id, id) DO UPDATE SET"
    " sku = excluded.sku, price = excluded.price, on_hand = excluded.on_hand,"
    " position = excluded.position, name = excluded.name, options = excluded.options";
constexpr const char* k_prune_variants =
    "DELETE FROM variants WHERE product_id = ?1 AND reserved = 0"
    " AND id NOT IN (SELECT value FROM json_each(?2))";
constexpr const char* k_get_product =
    "SELECT name, currency, active, created_at, updated_at FROM products WHERE id = ?1";
constexpr const char* k_get_variants =
    "SELECT id, sku, price, on_hand, reserved, name, options FROM variants WHERE product_id = ?1"
    " ORDER BY position";

constexpr const char* k_insert_session =
    "INSERT INTO sessions (id, token_hash, user_id, device_info, expires_at, created_at)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
constexpr const char* k_session_by_id =
    "SELECT id, token_hash, user_id, device_info, expires_at, created_at FROM sessions"
    " WHERE id = ?1";
constexpr const char* k_session_by_token =
    "SELECT id, token_hash, user_id, device_info, expires_at, created_at FROM sessions"
    " WHERE token_hash = ?1";
constexpr const char* k_update_session =
    "UPDATE sessions SET device_info = ?2, expires_at = ?3 WHERE id = ?1";
constexpr const char* k_delete_session = "DELETE FROM sessions WHERE id = ?1";

constexpr const char* k_idem_get =
    "SELECT fingerprint, state, status, content_type, etag, body, created_at, expires_at,"
    " owner_node, owner_boot, location FROM idempotency_keys WHERE scope = ?1 AND key = ?2";
constexpr const char* k_idem_claim =
    "INSERT INTO idempotency_keys (scope, key, fingerprint, state, created_at, expires_at,"
    " owner_node, owner_boot) VALUES (?1, ?2, ?3, 'running', ?4, ?5, ?6, ?7)"
    " ON CONFLICT (scope, key) DO UPDATE SET fingerprint = excluded.fingerprint,"
    " state = 'running', status = NULL, body = NULL, created_at = excluded.created_at,"
    " expires_at = excluded.expires_at, owner_node = excluded.owner_node,"
    " owner_boot = excluded.owner_boot";
constexpr const char* k_idem_complete =
    "UPDATE idempotency_keys SET state = 'done', status = ?3, content_type = ?4, etag = ?5,"
    " body = ?6, location = ?7 WHERE scope = ?1 AND key = ?2 AND state = 'running'";
constexpr const char* k_idem_release =
    "DELETE FROM idempotency_keys WHERE scope = ?1 AND key = ?2 AND state <> 'done'";
constexpr const char* k_outbox_insert =
    "INSERT INTO outbox (cart_id, type, payload, created_at) VALUES (?1, ?2, ?3, ?4)";
constexpr const char* k_outbox_fetch =
    "SELECT id, cart_id, type, payload FROM outbox ORDER BY id LIMIT ?1";
constexpr const char* k_outbox_delete = "DELETE FROM outbox WHERE id = ?1";
constexpr const char* k_rule_exists = "SELECT 1 FROM pricing_rules WHERE kind = ?1 AND id = ?2";
constexpr const char* k_rule_put =
    "INSERT INTO pricing_rules (kind, id, code, body, seq) VALUES (?1, ?2, ?3, ?4,"
    " (SELECT COALESCE(MAX(seq), 0) + 1 FROM pricing_rules)) ON CONFLICT (kind, id) DO UPDATE SET"
    " code = excluded.code, body = excluded.body";
constexpr const char* k_rule_list =
    "SELECT kind, id, code, body, seq, used FROM pricing_rules WHERE kind = ?1 ORDER BY seq";
constexpr const char* k_rule_replace =
    "UPDATE pricing_rules SET code = ?3, body = ?4 WHERE kind = ?1 AND id = ?2 AND body = ?5";
constexpr const char* k_use_discount =
    "UPDATE pricing_rules SET used = used + 1 WHERE kind = 'discount' AND id = ?1"
    " AND (?2 < 0 OR used < ?2)";
constexpr const char* k_release_discount =
    "UPDATE pricing_rules SET used = used - 1 WHERE kind = 'discount' AND id = ?1 AND used > 0";
constexpr const char* k_sweep_page =
    "SELECT c.id, c.status, c.updated_at, a.idle_since FROM carts c"
    " LEFT JOIN cart_abandonment a ON a.cart_id = c.id WHERE c.id > ?1 ORDER BY c.id LIMIT ?2";
constexpr const char* k_sweep_purge = "DELETE FROM carts WHERE id = ?1 AND updated_at = ?2";
constexpr const char* k_sweep_unmark = "DELETE FROM cart_abandonment WHERE cart_id = ?1";
constexpr const char* k_sweep_mark =
    "INSERT INTO cart_abandonment (cart_id, idle_since, reported_at) VALUES (?1, ?2, ?3)"
    " ON CONFLICT (cart_id) DO UPDATE SET idle_since = excluded.idle_since,"
    " reported_at = excluded.reported_at";
constexpr const char* k_sweep_snapshot = "SELECT snapshot FROM carts WHERE id = ?1";
constexpr const char* k_sweep_orphans =
    "DELETE FROM cart_abandonment WHERE NOT EXISTS"
    " (SELECT 1 FROM carts c WHERE c.id = cart_abandonment.cart_id)";
constexpr const char* k_rule_delete = "DELETE FROM pricing_rules WHERE kind = ?1 AND id = ?2";
constexpr const char* k_idem_purge = "DELETE FROM idempotency_keys WHERE expires_at < ?1";

session read_session(statement& st) {
  session s;
  s.id = st.text(0);
  s.token_hash = st.text(1);
  s.user_id = st.text(2);
  s.device_json = st.text(3);
  s.expires_at_ms = st.integer(4);
  s.created_at_ms = st.integer(5);
  return s;
}

class sqlite_store final : public store {
 public:
  // Every thread that touches the store holds at most one connection at a time (store workers,
  // committers, the sweeper, the relay, the pricing book): 32 is far above what they need.
  explicit sqlite_store(std::string path)
      : pool_(std::move(path), 32, std::chrono::seconds(5)) {}

  std::vector<pool_figures> pools() const override { return {pool_.figures()}; }

  // Checkout, orders and the payment ledger: persistence/sqlite_checkout.cpp.
  bool remember_event(const std::string& id, std::int64_t now_ms) override {
    auto c = pool_.acquire();
    return sqlite_checkout::remember_event(*c, id, now_ms);
  }
  open_checkout_result open_checkout(const checkout_session& s) override {
    auto c = pool_.acquire();
    return sqlite_checkout::open_checkout(*c, s);
  }
  std::optional<checkout_session> load_checkout(const std::string& id) override {
    auto c = pool_.acquire();
    return sqlite_checkout::load_checkout(*c, id);
  }
  std::optional<checkout_session> active_checkout_of(const cart_id& cart) override {
    auto c = pool_.acquire();
    return sqlite_checkout::active_checkout_of(*c, cart);
  }
  bool update_checkout(const checkout_session& s) override {
    auto c = pool_.acquire();
    return sqlite_checkout::update_checkout(*c, s);
  }
  bool expire_checkout(const std::string& id, std::int64_t now_ms, bool force) override {
    auto c = pool_.acquire();
    return sqlite_checkout::expire_checkout(*c, id, now_ms, force);
  }
  std::vector<std::string> due_checkouts(std::int64_t now_ms, int limit) override {
    auto c = pool_.acquire();
    return sqlite_checkout::due_checkouts(*c, now_ms, limit);
  }
  std::vector<checkout_session> processing_checkouts(int limit) override {
    auto c = pool_.acquire();
    return sqlite_checkout::processing_checkouts(*c, limit);
  }
  place_order_result place_order(const place_order_request& r) override {
    auto c = pool_.acquire();
    return sqlite_checkout::place_order(*c, r);
  }
  std::optional<order_record> load_order(const std::string& id) override {
    auto c = pool_.acquire();
    return sqlite_checkout::load_order(*c, id);
  }
  std::vector<order_record> list_orders(const order_query& q) override {
    auto c = pool_.acquire();
    return sqlite_checkout::list_orders(*c, q);
  }
  bool update_order(const order_record& o, bool restock, const std::vector<outbox_event>& events) override {
    auto c = pool_.acquire();
    return sqlite_checkout::update_order(*c, o, restock, events);
  }
  std::vector<order_record> orders_to_capture(std::int64_t placed_before_ms, int limit) override {
    auto c = pool_.acquire();
    return sqlite_checkout::orders_to_capture(*c, placed_before_ms, limit);
  }
  std::vector<order_record> orders_to_settle(int limit) override {
    auto c = pool_.acquire();
    return sqlite_checkout::orders_to_settle(*c, limit);
  }
  std::optional<ledger_payment> ledger_by_key(const std::string& idempotency_key) override {
    auto c = pool_.acquire();
    return sqlite_checkout::ledger_by_key(*c, idempotency_key);
  }
  ledger_payment ledger_insert(const ledger_payment& p) override {
    auto c = pool_.acquire();
    return sqlite_checkout::ledger_insert(*c, p);
  }
  std::optional<ledger_payment> ledger_get(const std::string& id) override {
    auto c = pool_.acquire();
    return sqlite_checkout::ledger_get(*c, id);
  }
  bool ledger_move(const std::string& id, const std::string& from, const std::string& to) override {
    auto c = pool_.acquire();
    return sqlite_checkout::ledger_move(*c, id, from, to);
  }
  std::vector<ledger_payment> ledger_by_reference(const std::string& reference) override {
    auto c = pool_.acquire();
    return sqlite_checkout::ledger_by_reference(*c, reference);
  }
  void remember_give_back(const payment_give_back& g) override {
    auto c = pool_.acquire();
    statement st(*c,
                 "INSERT INTO payment_give_backs (payment_id, status, amount, created_at)"
                 " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (payment_id) DO NOTHING");
    st.bind(1, g.payment_id).bind(2, g.status).bind(3, g.amount).bind(4, g.created_at_ms).run();
  }
  std::vector<payment_give_back> give_backs_due(std::int64_t before_ms, int limit) override {
    auto c = pool_.acquire();
    statement st(*c,
                 "SELECT payment_id, status, amount, created_at FROM payment_give_backs"
                 " WHERE created_at < ?1 ORDER BY created_at LIMIT ?2");
    st.bind(1, before_ms).bind(2, static_cast<std::int64_t>(limit));
    std::vector<payment_give_back> out;
    while (st.step()) out.push_back({st.text(0), st.text(1), st.integer(2), st.integer(3)});
    return out;
  }
  void forget_give_back(const std::string& id) override {
    auto c = pool_.acquire();
    statement st(*c, "DELETE FROM payment_give_backs WHERE payment_id = ?1");
    st.bind(1, id).run();
  }

  std::string kind() const override { return "sqlite"; }

  int migrate() override {
    auto c = pool_.acquire();
    c->exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY,"
            " applied_at INTEGER NOT NULL)");
    int applied = 0;
    for (const auto& m : sqlite::migrations()) {
      sqlite::transaction tx(*c);
      statement has(*c, "SELECT 1 FROM schema_migrations WHERE version = ?1");
      has.bind(1, static_cast<std::int64_t>(m.version));
      if (has.step()) continue;
      c->exec(m.sql);
      statement mark(*c, "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)");
      mark.bind(1, static_cast<std::int64_t>(m.version)).bind(2, now_ms()).run();
      tx.commit();
      ++applied;
    }
    return applied;
  }

  void ping() override {
    auto c = pool_.acquire();
    statement st(*c, "SELECT 1");
    st.run();
  }

  std::optional<cart> load_cart(const cart_id& id) override {
    auto c = pool_.acquire();
    statement st(*c, k_load_cart);
    st.bind(1, id.value);
    if (!st.step()) return std::nullopt;
    auto decoded = decode_snapshot(st.text(0));
    if (!decoded) throw store_error("corrupt snapshot for cart " + id.value);
    return decoded;
  }

  std::vector<write_status> commit(const std::vector<write_unit>& units) override {
    auto c = pool_.acquire();
    std::vector<write_status> out;
    out.reserve(units.size());
    sqlite::patience patient(*c);  // waits for the lock as SQLite does: see wait_for_lock
    sqlite::transaction tx(*c);
    for (const auto& unit : units) {
      c->run("SAVEPOINT unit");
      bool ok = true;
      for (const auto& w : unit.writes) ok = ok && write_one(*c, w);
      if (ok && unit.completes) ok = complete(*c, *unit.completes);  // claim gone: not written
      if (ok) {
        for (const auto& e : unit.events) {
          statement ev(*c, k_outbox_insert);
          ev.bind(1, e.cart_id).bind(2, e.type).bind(3, e.payload).bind(4, now_ms()).run();
        }
      }
      if (ok) {
        c->run("RELEASE unit");
      } else {
        c->exec("ROLLBACK TO unit; RELEASE unit");
      }
      out.push_back(ok ? write_status::committed : write_status::conflict);
    }
    tx.commit();
    return out;
  }

  std::vector<cart> list_carts(const principal& owner, int limit,
                               const std::optional<page_key>& after) override {
    auto c = pool_.acquire();
    statement st(*c, k_list_carts);
    st.bind_opt(1, owner.user).bind_opt(2, owner.session);
    if (after) {
      st.bind(3, static_cast<std::int64_t>(after->group)).bind(4, after->created_at_ms);
      st.bind(5, after->id);
    }
    st.bind(6, static_cast<std::int64_t>(limit + 1));
    std::vector<cart> out;
    while (st.step()) {
      if (auto decoded = decode_snapshot(st.text(0))) out.push_back(std::move(*decoded));
    }
    return out;
  }

  int count_active_carts(const principal& owner, int cap) override {
    auto c = pool_.acquire();
    statement st(*c, k_count_active_carts);
    st.bind_opt(1, owner.user).bind_opt(2, owner.session).bind(3, static_cast<std::int64_t>(cap));
    return st.step() ? static_cast<int>(st.integer(0)) : 0;
  }

  bool upsert_product(const product& p) override {
    auto c = pool_.acquire();
    sqlite::transaction tx(*c);
    statement exists(*c, k_product_exists);
    exists.bind(1, p.id.value);
    bool created = !exists.step();
    statement up(*c, k_upsert_product);
    up.bind(1, p.id.value).bind(2, p.name).bind(3, p.currency);
    up.bind(4, static_cast<std::int64_t>(p.active)).bind(5, p.updated_at_ms).run();
    std::string ids = "[";
    std::int64_t pos = 0;
    for (const auto& v : p.variants) {
      statement sv(*c, k_upsert_variant);
      sv.bind(1, p.id.value).bind(2, v.id.value).bind(3, v.sku).bind(4, v.price);
      sv.bind(5, v.stock).bind(6, pos++).bind_opt(7, v.name).bind_opt(8, encode_options(v.options));
      sv.run();
      ids += (pos > 1 ? ",\"" : "\"") + v.id.value + "\"";  // ids are [A-Za-z0-9._-]
    }
    ids += "]";
    statement prune(*c, k_prune_variants);
    prune.bind(1, p.id.value).bind(2, ids).run();
    tx.commit();
    return created;
  }

  std::optional<product> get_product(const product_id& id) override {
    auto c = pool_.acquire();
    statement st(*c, k_get_product);
    st.bind(1, id.value);
    if (!st.step()) return std::nullopt;
    product p;
    p.id = id;
    p.name = st.text(0);
    p.currency = st.text(1);
    p.active = st.integer(2) != 0;
    p.created_at_ms = st.integer(3);
    p.updated_at_ms = st.integer(4);
    statement vs(*c, k_get_variants);
    vs.bind(1, id.value);
    while (vs.step()) {
      p.variants.push_back(variant{variant_id{vs.text(0)}, vs.text(1), vs.integer(2),
                                   vs.integer(3), vs.integer(4), vs.text(5),
                                   decode_options(vs.text(6))});
    }
    return p;
  }

  std::vector<product> list_products(const product_query& q) override {
    std::vector<std::string> ids;
    {
      auto c = pool_.acquire();
      statement st(*c, k_list_products);
      st.bind(1, q.name_contains);
      if (q.after) st.bind(2, q.after->created_at_ms).bind(3, q.after->id);
      st.bind(4, static_cast<std::int64_t>(q.limit + 1));
      while (st.step()) ids.push_back(st.text(0));
    }
    std::vector<product> out;
    for (const auto& id : ids)
      if (auto p = get_product(product_id{id})) out.push_back(std::move(*p));
    return out;
  }

  void create_session(const session& s, const idempotency_completion* completes) override {
    auto c = pool_.acquire();
    sqlite::transaction tx(*c);
    statement st(*c, k_insert_session);
    st.bind(1, s.id).bind(2, s.token_hash).bind_opt(3, s.user_id).bind_opt(4, s.device_json);
    st.bind(5, s.expires_at_ms).bind(6, s.created_at_ms).run();
    complete_or_roll_back(*c, completes);
    tx.commit();
  }

  std::optional<session> find_session(const std::string& id) override {
    return find(k_session_by_id, id);
  }

  std::optional<session> find_session_by_token(const std::string& token_hash) override {
    return find(k_session_by_token, token_hash);
  }

  void update_session(const session& s) override {
    auto c = pool_.acquire();
    statement st(*c, k_update_session);
    st.bind(1, s.id).bind_opt(2, s.device_json).bind(3, s.expires_at_ms).run();
  }

  bool delete_session(const std::string& id) override {
    auto c = pool_.acquire();
    statement st(*c, k_delete_session);
    st.bind(1, id).run();
    return st.changes() > 0;
  }

  idempotency_claim claim_idempotency_key(const idempotency_request& r) override {
    auto c = pool_.acquire();
    sqlite::transaction tx(*c);
    if (++claims_ % 1024 == 0) {
      statement purge(*c, k_idem_purge);
      purge.bind(1, r.now_ms).run();
    }
    idempotency_claim out;
    {
      statement get(*c, k_idem_get);
      get.bind(1, r.scope).bind(2, r.key);
      if (get.step() && get.integer(7) > r.now_ms) {
        bool running = get.text(1) == "running";
        bool abandoned = get.text(8) == r.node && get.text(9) != r.boot;
        bool stale = running && (abandoned || r.now_ms - get.integer(6) > r.stale_after_ms);
        if (get.text(0) != r.fingerprint && !stale) {
          out.outcome = idempotency_claim::state::reused;
        } else if (running && !stale) {
          out.outcome = idempotency_claim::state::in_progress;
        } else if (!running) {
          out.outcome = idempotency_claim::state::replay;
          out.response = stored_response{static_cast<int>(get.integer(2)), get.text(3),
                                         get.text(4), get.text(5), get.text(10)};
        }
      }
    }
    if (out.outcome == idempotency_claim::state::claimed) {
      statement claim(*c, k_idem_claim);
      claim.bind(1, r.scope).bind(2, r.key).bind(3, r.fingerprint).bind(4, r.now_ms);
      claim.bind(5, r.now_ms + r.ttl_ms).bind(6, r.node).bind(7, r.boot).run();
    }
    tx.commit();
    return out;
  }

  void complete_idempotency_key(const std::string& scope, const std::string& key,
                                const stored_response& r) override {
    auto c = pool_.acquire();
    complete(*c, idempotency_completion{scope, key, r});
  }

  void release_idempotency_key(const std::string& scope, const std::string& key) override {
    auto c = pool_.acquire();
    statement st(*c, k_idem_release);
    st.bind(1, scope).bind(2, key).run();
  }

  bool hold_relay_lease() override { return true; }  // one process per SQLite file

  bool put_pricing_rule(const pricing_rule& r, const idempotency_completion* completes) override {
    auto c = pool_.acquire();
    sqlite::transaction tx(*c);
    statement exists(*c, k_rule_exists);
    exists.bind(1, r.kind).bind(2, r.id);
    bool created = !exists.step();
    statement put(*c, k_rule_put);
    put.bind(1, r.kind).bind(2, r.id).bind_opt(3, r.code).bind(4, r.body).run();
    complete_or_roll_back(*c, completes);
    tx.commit();
    return created;
  }

  std::vector<pricing_rule> list_pricing_rules(const std::string& kind) override {
    auto c = pool_.acquire();
    statement st(*c, k_rule_list);
    st.bind(1, kind);
    std::vector<pricing_rule> out;
    while (st.step())
      out.push_back(pricing_rule{st.text(0), st.text(1), st.text(2), st.text(3), st.integer(4), st.integer(5)});
    return out;
  }

  bool delete_pricing_rule(const std::string& kind, const std::string& id) override {
    auto c = pool_.acquire();
    statement st(*c, k_rule_delete);
    st.bind(1, kind).bind(2, id).run();
    return st.changes() > 0;
  }

  bool replace_pricing_rule(const pricing_rule& r, const std::string& expected_body) override {
    auto c = pool_.acquire();
    statement st(*c, k_rule_replace);
    st.bind(1, r.kind)
        .bind(2, r.id)
        .bind_opt(3, r.code)
        .bind(4, r.body)
        .bind(5, expected_body)
        .run();
    return st.changes() > 0;
  }

  bool count_discount_use(const std::string& id, std::optional<std::int64_t> limit) override {
    auto c = pool_.acquire();
    statement st(*c, k_use_discount);
    st.bind(1, id).bind(2, limit.value_or(-1)).run();
    return st.changes() > 0;
  }

  bool release_discount_use(const std::string& id) override {
    auto c = pool_.acquire();
    statement st(*c, k_release_discount);
    st.bind(1, id).run();
    return st.changes() > 0;
  }

  lifecycle_step sweep_carts(const std::string& after_id, int limit, std::int64_t idle_before_ms,
                             std::int64_t expire_before_ms, bool with_events,
                             std::int64_t now_ms) override {
    auto c = pool_.acquire();
    sqlite::transaction tx(*c);
    if (after_id.empty()) c->exec(k_sweep_orphans);  // at the start of each pass
    struct seen {
      std::string id, status;
      std::int64_t updated_at, idle_since;
    };
    std::vector<seen> page;
    {
      statement st(*c, k_sweep_page);
      st.bind(1, after_id).bind(2, static_cast<std::int64_t>(limit));
      while (st.step())
        page.push_back(
            seen{st.text(0), st.text(1), st.integer(2), st.is_null(3) ? -1 : st.integer(3)});
    }
    lifecycle_step out;
    out.scanned = static_cast<int>(page.size());
    if (!page.empty()) out.last_id = page.back().id;
    for (const auto& p : page) {
      if (p.updated_at < expire_before_ms) {
        statement del(*c, k_sweep_purge);
        del.bind(1, p.id).bind(2, p.updated_at).run();  // unless it changed since the page was read
        if (del.changes() == 0) continue;
        statement unmark(*c, k_sweep_unmark);
        unmark.bind(1, p.id).run();
        ++out.purged;
        continue;
      }
      if (p.status != "active" || p.updated_at >= idle_before_ms) continue;
      ++out.idle;
      if (p.idle_since == p.updated_at) continue;  // this spell was reported
      statement mark(*c, k_sweep_mark);
      mark.bind(1, p.id).bind(2, p.updated_at).bind(3, now_ms).run();
      ++out.reported;
      if (!with_events) continue;
      statement snap(*c, k_sweep_snapshot);
      snap.bind(1, p.id);
      auto cart = snap.step() ? decode_snapshot(snap.text(0)) : std::nullopt;
      if (!cart) continue;  // unreadable: marked all the same, so it is not picked again
      statement ev(*c, k_outbox_insert);
      ev.bind(1, p.id)
          .bind(2, "cart_abandoned")
          .bind(3, encode_event("cart_abandoned", *cart, nullptr, "", now_ms))
          .bind(4, now_ms)
          .run();
    }
    tx.commit();
    return out;
  }

  std::vector<outbox_row> fetch_outbox(int limit) override {
    auto c = pool_.acquire();
    statement st(*c, k_outbox_fetch);
    st.bind(1, static_cast<std::int64_t>(limit));
    std::vector<outbox_row> out;
    while (st.step()) out.push_back(outbox_row{st.integer(0), {st.text(1), st.text(2), st.text(3)}});
    return out;
  }

  void delete_outbox(const std::vector<std::int64_t>& ids) override {
    auto c = pool_.acquire();
    sqlite::transaction tx(*c);
    for (auto id : ids) {
      statement st(*c, k_outbox_delete);
      st.bind(1, id).run();
    }
    tx.commit();
  }

 private:
  static bool write_one(sqlite::connection& c, const cart_write& w) {
    const cart& s = w.snapshot;
    bool insert = w.expected_version == 0;
    statement st(c, insert ? k_insert_cart : k_update_cart);
    st.bind(1, s.id.value);
    if (insert) st.bind_opt(2, s.user_id).bind_opt(3, s.session_id);
    st.bind(4, std::string_view(to_string(s.status)));
    st.bind(5, static_cast<std::int64_t>(s.version)).bind(6, encode_snapshot(s));
    if (insert) st.bind(7, s.created_at_ms);
    st.bind(8, s.updated_at_ms);
    if (!insert) st.bind(9, static_cast<std::int64_t>(w.expected_version));
    st.run();
    return st.changes() == 1;
  }

  /// Stores the answer of a claim still running; false when the claim is gone (released after
  /// a timed-out 503, so the change it answers must not commit either).
  static bool complete(sqlite::connection& c, const idempotency_completion& done) {
    const auto& r = done.response;
    statement st(c, k_idem_complete);
    st.bind(1, done.scope).bind(2, done.key).bind(3, static_cast<std::int64_t>(r.status));
    st.bind(4, r.content_type).bind(5, r.etag).bind(6, r.body).bind(7, r.location).run();
    return st.changes() == 1;
  }

  static void complete_or_roll_back(sqlite::connection& c, const idempotency_completion* done) {
    if (done && !complete(c, *done))
      throw store_error("the Idempotency-Key claim was released; nothing was written");
  }

  std::optional<session> find(const char* sql, const std::string& arg) {
    auto c = pool_.acquire();
    statement st(*c, sql);
    st.bind(1, arg);
    if (!st.step()) return std::nullopt;
    return read_session(st);
  }

  sqlite::pool pool_;
  std::atomic<std::uint64_t> claims_{0};
};

}  // namespace

std::unique_ptr<store> make_sqlite_store(const std::string& path) {
  auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  return std::make_unique<sqlite_store>(path);
}


}  // namespace cartd
