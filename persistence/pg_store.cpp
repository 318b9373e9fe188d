#include "persistence/pg_store.hpp"

#include <algorithm>
#include <mutex>
#include <set>

#include "persistence/pg_checkout.hpp"
#include "persistence/pg_db.hpp"
#include "persistence/snapshot_codec.hpp"

namespace cartd {

namespace {

using params = std::vector<std::optional<std::string>>;
using pg::query;

std::optional<std::string> opt(const std::string& s) {
  return s.empty() ? std::nullopt : std::optional<std::string>(s);
}
std::string num(std::int64_t v) { return std::to_string(v); }

// The numbered schema of the PostgreSQL store. Append only.
const std::vector<std::pair<int, const char*>>& migrations() {
  static const std::vector<std::pair<int, const char*>> all = {
      {1, R"sql(
CREATE TABLE products (
  id text PRIMARY KEY, name text NOT NULL, currency text NOT NULL, active boolean NOT NULL,
  created_at bigint NOT NULL, updated_at bigint NOT NULL);
CREATE TABLE variants (
  product_id text NOT NULL REFERENCES products(id) ON DELETE CASCADE, id text NOT NULL,
  sku text NOT NULL, price bigint NOT NULL, on_hand bigint NOT NULL,
  reserved bigint NOT NULL DEFAULT 0, position int NOT NULL,
  PRIMARY KEY (product_id, id));
CREATE TABLE carts (
  id text PRIMARY KEY, user_id text, session_id text, status text NOT NULL,
  version bigint NOT NULL, snapshot text NOT NULL,
  created_at bigint NOT NULL, updated_at bigint NOT NULL);
CREATE INDEX carts_by_user ON carts (user_id, updated_at DESC) WHERE user_id IS NOT NULL;
CREATE INDEX carts_by_session ON carts (session_id, updated_at DESC) WHERE session_id IS NOT NULL;
CREATE TABLE sessions (
  id text PRIMARY KEY, token_hash text NOT NULL UNIQUE, user_id text, device_info text,
  expires_at bigint NOT NULL, created_at bigint NOT NULL);
CREATE INDEX sessions_by_user ON sessions (user_id) WHERE user_id IS NOT NULL;
CREATE TABLE idempotency_keys (
  scope text NOT NULL, key text NOT NULL, fingerprint text NOT NULL, state text NOT NULL,
  status int, content_type text, etag text, body text,
  created_at bigint NOT NULL, expires_at bigint NOT NULL, owner_node text, owner_boot text,
  PRIMARY KEY (scope, key));
CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys (expires_at);
CREATE TABLE outbox (
  id bigserial PRIMARY KEY, cart_id text NOT NULL, type text NOT NULL, payload text NOT NULL,
  created_at bigint NOT NULL);
)sql"},
      {2, R"sql(
CREATE TABLE pricing_rules (
  kind text NOT NULL, id text NOT NULL, code text, body text NOT NULL, seq bigserial,
  used bigint NOT NULL DEFAULT 0, PRIMARY KEY (kind, id));
CREATE UNIQUE INDEX pricing_rules_by_code ON pricing_rules (kind, code) WHERE code IS NOT NULL;
)sql"},
      {3, R"sql(
CREATE TABLE cart_abandonment (
  cart_id text PRIMARY KEY, idle_since bigint NOT NULL, reported_at bigint NOT NULL);
)sql"},
      {4, R"sql(
CREATE TABLE checkout_sessions (
  id text PRIMARY KEY, cart_id text NOT NULL, status text NOT NULL, expires_at bigint NOT NULL,
  version bigint NOT NULL, doc text NOT NULL, created_at bigint NOT NULL);
CREATE INDEX checkout_sessions_by_cart ON checkout_sessions (cart_id);
CREATE INDEX checkout_sessions_live ON checkout_sessions (expires_at)
  WHERE status IN ('open', 'processing');
CREATE TABLE reservations (
  checkout_id text NOT NULL, product_id text NOT NULL, variant_id text NOT NULL,
  quantity bigint NOT NULL, PRIMARY KEY (checkout_id, product_id, variant_id));
CREATE TABLE orders (
  id text PRIMARY KEY, order_number text NOT NULL UNIQUE, checkout_id text NOT NULL UNIQUE,
  user_id text, session_id text, status text NOT NULL, payment_status text NOT NULL,
  version bigint NOT NULL, doc text NOT NULL, created_at bigint NOT NULL);
CREATE INDEX orders_by_user ON orders (user_id, id) WHERE user_id IS NOT NULL;
CREATE INDEX orders_by_session ON orders (session_id, id) WHERE session_id IS NOT NULL;
CREATE INDEX orders_to_settle ON orders (id)
  WHERE status = 'cancelled' AND payment_status IN ('authorized', 'captured');
CREATE TABLE order_discounts (
  order_id text NOT NULL, discount_id text NOT NULL, PRIMARY KEY (order_id, discount_id));
CREATE TABLE payment_ledger (
  id text PRIMARY KEY, idempotency_key text NOT NULL UNIQUE, reference text NOT NULL,
  amount bigint NOT NULL, currency text NOT NULL, status text NOT NULL,
  created_at bigint NOT NULL);
CREATE INDEX payment_ledger_by_reference ON payment_ledger (reference);
CREATE TABLE payment_events (id text PRIMARY KEY, received_at bigint NOT NULL);
)sql"},
      {5, R"sql(
ALTER TABLE variants ADD COLUMN name text;
ALTER TABLE variants ADD COLUMN options text;
ALTER TABLE idempotency_keys ADD COLUMN location text;
CREATE INDEX products_newest ON products (created_at DESC, id DESC) WHERE active;
CREATE INDEX carts_by_user_newest ON carts (user_id, created_at DESC, id DESC)
  WHERE user_id IS NOT NULL;
)sql"},
      {6, R"sql(
CREATE TABLE payment_give_backs (
  payment_id text PRIMARY KEY, status text NOT NULL, amount bigint NOT NULL,
  created_at bigint NOT NULL);
)sql"},
  };
  return all;
}

// Statements, named, next to the code that runs them.
constexpr query q_load_cart{"load_cart", "SELECT snapshot FROM carts WHERE id = $1"};
// Group commit: one statement, so one round trip and one implicit transaction, writes every
// cart of the batch and the Idempotency-Key answers of the writes that landed. The version
// guard lets a write land only on the version it was computed from (inserts: on no row).
constexpr query q_commit_batch{
    "commit_batch",
    "WITH c AS (SELECT * FROM unnest($9::text[], $10::text[], $11::text[], $12::int[],"
    " $13::text[], $14::text[], $15::text[], $19::text[])"
    " AS c(cart_id, scope, key, status, ct, etag, body, loc)),"
    // A write that answers an Idempotency-Key lands only while its claim is still running,
    // locked here so a release (after a timed-out 503) cannot slip in before the answer.
    " held AS (SELECT c.cart_id FROM c JOIN idempotency_keys k ON k.scope = c.scope"
    " AND k.key = c.key AND k.state = 'running' FOR UPDATE OF k),"
    " v AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],"
    " $5::bigint[], $6::text[], $7::bigint[], $8::bigint[])"
    " AS v(id, user_id, session_id, status, version, snapshot, created_at, updated_at)"
    " WHERE v.id NOT IN (SELECT cart_id FROM c) OR v.id IN (SELECT cart_id FROM held)),"
    // New carts are inserted; others only update the version they were computed from, so a
    // cart that is gone (purged) is never written back.
    " wi AS (INSERT INTO carts (id, user_id, session_id, status, version, snapshot, created_at,"
    " updated_at) SELECT * FROM v WHERE v.version = 1 ORDER BY id ON CONFLICT (id) DO NOTHING"
    " RETURNING carts.id),"
    " wu AS (UPDATE carts t SET status = v.status, version = v.version, snapshot = v.snapshot,"
    " updated_at = v.updated_at FROM v WHERE t.id = v.id AND v.version > 1"
    " AND t.version = v.version - 1 RETURNING t.id),"
    " w AS (SELECT id FROM wi UNION ALL SELECT id FROM wu),"
    " k AS (UPDATE idempotency_keys k SET state = 'done', status = c.status, content_type = c.ct,"
    " etag = c.etag, body = c.body, location = c.loc FROM c"
    " WHERE k.scope = c.scope AND k.key = c.key AND c.cart_id IN (SELECT id FROM w)"
    " RETURNING 1),"
    " e AS (INSERT INTO outbox (cart_id, type, payload, created_at)"
    " SELECT ev.cart_id, ev.type, ev.payload, (extract(epoch from now()) * 1000)::bigint"
    " FROM unnest($16::text[], $17::text[], $18::text[]) WITH ORDINALITY AS ev(cart_id, type,"
    " payload, ord) WHERE ev.cart_id IN (SELECT id FROM w) ORDER BY ev.ord RETURNING 1)"
    " SELECT id FROM w"};
constexpr query q_outbox_insert{
    "outbox_insert",
    "INSERT INTO outbox (cart_id, type, payload, created_at)"
    " VALUES ($1, $2, $3, (extract(epoch from now()) * 1000)::bigint)"};
constexpr query q_outbox_fetch{
    "outbox_fetch", "SELECT id, cart_id, type, payload FROM outbox ORDER BY id LIMIT $1"};
constexpr query q_outbox_delete{"outbox_delete", "DELETE FROM outbox WHERE id = ANY($1::bigint[])"};
constexpr query q_insert_cart{
    "insert_cart",
    "INSERT INTO carts (id, user_id, session_id, status, version, snapshot, created_at, updated_at)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING"};
constexpr query q_update_cart{
    "update_cart",
    "UPDATE carts SET status = $2, version = $3, snapshot = $4, updated_at = $5"
    " WHERE id = $1 AND version = $6"};
constexpr query q_list_carts{
    "list_carts",
    "SELECT snapshot FROM carts WHERE (user_id = $1 OR session_id = $2) AND status <> 'deleted'"
    " AND ($3::int IS NULL OR (status <> 'active')::int > $3 OR ((status <> 'active')::int = $3"
    " AND (created_at, id) < ($4::bigint, $5::text)))"
    " ORDER BY (status <> 'active'), created_at DESC, id DESC LIMIT $6"};
constexpr query q_count_active_carts{
    "count_active_carts",
    "SELECT count(*) FROM (SELECT 1 FROM carts WHERE (user_id = $1 OR session_id = $2)"
    " AND status = 'active' LIMIT $3) AS owned"};
constexpr query q_list_products{
    "list_products",
    "SELECT id FROM products WHERE active AND ($1 = '' OR strpos(lower(name), lower($1)) > 0)"
    " AND ($2::bigint IS NULL OR (created_at, id) < ($2::bigint, $3::text))"
    " ORDER BY created_at DESC, id DESC LIMIT $4"};
constexpr query q_product_exists{"product_exists", "SELECT 1 FROM products WHERE id = $1"};
constexpr query q_upsert_product{
    "upsert_product",
    "INSERT INTO products (id, name, currency, active, created_at, updated_at)"
    " VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name,"
    " currency = EXCLUDED.currency, active = EXCLUDED.active, updated_at = EXCLUDED.updated_at"};
constexpr query q_upsert_variant{
    "upsert_variant",
    "INSERT INTO variants (product_id, id, sku, price, on_hand, position, name, options)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (product_id, id) DO UPDATE SET"
    " sku = EXCLUDED.sku, price = EXCLUDED.price, on_hand = EXCLUDED.on_hand,"
    " position = EXCLUDED.position, name = EXCLUDED.name, options = EXCLUDED.options"};
constexpr query q_prune_variants{
    "prune_variants",
    "DELETE FROM variants WHERE product_id = $1 AND reserved = 0 AND NOT (id = ANY($2::text[]))"};
constexpr query q_get_product{
    "get_product", "SELECT name, currency, active, created_at, updated_at FROM products WHERE id = $1"};
constexpr query q_get_variants{
    "get_variants",
    "SELECT id, sku, price, on_hand, reserved, name, options FROM variants WHERE product_id = $1"
    " ORDER BY position"};
constexpr query q_insert_session{
    "insert_session",
    "INSERT INTO sessions (id, token_hash, user_id, device_info, expires_at, created_at)"
    " VALUES ($1, $2, $3, $4, $5, $6)"};
constexpr query q_session_by_id{
    "session_by_id",
    "SELECT id, token_hash, user_id, device_info, expires_at, created_at FROM sessions WHERE id = $1"};
constexpr query q_session_by_token{
    "session_by_token",
    "SELECT id, token_hash, user_id, device_info, expires_at, created_at FROM sessions"
    " WHERE token_hash = $1"};
constexpr query q_update_session{
    "update_session", "UPDATE sessions SET device_info = $2, expires_at = $3 WHERE id = $1"};
constexpr query q_delete_session{"delete_session", "DELETE FROM sessions WHERE id = $1"};
constexpr query q_idem_get{
    "idem_get",
    "SELECT fingerprint, state, status, content_type, etag, body, created_at, expires_at,"
    " owner_node, owner_boot, location FROM idempotency_keys WHERE scope = $1 AND key = $2"
    " FOR UPDATE"};
constexpr query q_idem_claim{
    "idem_claim",
    "INSERT INTO idempotency_keys (scope, key, fingerprint, state, created_at, expires_at,"
    " owner_node, owner_boot) VALUES ($1, $2, $3, 'running', $4, $5, $6, $7)"
    " ON CONFLICT (scope, key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint,"
    " state = 'running', status = NULL, body = NULL, created_at = EXCLUDED.created_at,"
    " expires_at = EXCLUDED.expires_at, owner_node = EXCLUDED.owner_node,"
    " owner_boot = EXCLUDED.owner_boot"};
/// The first claim of a key: inserts nothing when a concurrent first claim got there first
/// (a `SELECT … FOR UPDATE` locks no row that does not exist yet).
constexpr query q_idem_claim_new{
    "idem_claim_new",
    "INSERT INTO idempotency_keys (scope, key, fingerprint, state, created_at, expires_at,"
    " owner_node, owner_boot) VALUES ($1, $2, $3, 'running', $4, $5, $6, $7)"
    " ON CONFLICT (scope, key) DO NOTHING"};
constexpr query q_idem_complete{
    "idem_complete",
    "UPDATE idempotency_keys SET state = 'done', status = $3, content_type = $4, etag = $5,"
    " body = $6, location = $7 WHERE scope = $1 AND key = $2 AND state = 'running'"};
constexpr query q_idem_release{"idem_release",
                               "DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2"
                               " AND state <> 'done'"};
constexpr query q_rule_put{
    "rule_put",
    "INSERT INTO pricing_rules (kind, id, code, body) VALUES ($1, $2, $3, $4)"
    " ON CONFLICT (kind, id) DO UPDATE SET code = EXCLUDED.code, body = EXCLUDED.body"
    " RETURNING (xmax = 0)"};
constexpr query q_rule_list{
    "rule_list",
    "SELECT kind, id, code, body, seq, used FROM pricing_rules WHERE kind = $1 ORDER BY seq"};
constexpr query q_rule_delete{"rule_delete",
                              "DELETE FROM pricing_rules WHERE kind = $1 AND id = $2"};
constexpr query q_rule_replace{
    "rule_replace",
    "UPDATE pricing_rules SET code = $3, body = $4 WHERE kind = $1 AND id = $2 AND body = $5"};
constexpr query q_use_discount{
    "use_discount",
    "UPDATE pricing_rules SET used = used + 1 WHERE kind = 'discount' AND id = $1"
    " AND ($2::bigint IS NULL OR used < $2::bigint)"};
constexpr query q_release_discount{
    "release_discount",
    "UPDATE pricing_rules SET used = used - 1 WHERE kind = 'discount' AND id = $1 AND used > 0"};
// One lifecycle step in one statement: the page (by key, no index on updated_at: every write
// moves it), the purge of what expired (unless changed since), and the marks of new idle
// spells. Two nodes marking one spell at once: the second waits on the first's row, then
// finds the same spell and leaves it (the WHERE of DO UPDATE), so a spell is returned once.
constexpr query q_sweep{
    "sweep_carts",
    "WITH s AS (SELECT c.id, c.status, c.updated_at, a.idle_since FROM carts c"
    " LEFT JOIN cart_abandonment a ON a.cart_id = c.id WHERE c.id > $1 ORDER BY c.id LIMIT $2),"
    " d AS (DELETE FROM carts c USING s WHERE c.id = s.id AND s.updated_at < $4::bigint"
    " AND c.updated_at = s.updated_at RETURNING c.id),"
    " da AS (DELETE FROM cart_abandonment a USING d WHERE a.cart_id = d.id),"
    " i AS (SELECT * FROM s WHERE status = 'active' AND updated_at < $3::bigint"
    " AND updated_at >= $4::bigint),"
    " r AS (INSERT INTO cart_abandonment (cart_id, idle_since, reported_at)"
    " SELECT id, updated_at, $5::bigint FROM i WHERE idle_since IS DISTINCT FROM updated_at"
    " ON CONFLICT (cart_id) DO UPDATE SET idle_since = EXCLUDED.idle_since,"
    " reported_at = EXCLUDED.reported_at WHERE cart_abandonment.idle_since <> EXCLUDED.idle_since"
    " RETURNING cart_id)"
    " SELECT (SELECT id FROM s ORDER BY id DESC LIMIT 1), (SELECT count(*) FROM s),"
    " (SELECT count(*) FROM i), (SELECT count(*) FROM d), r.cart_id"
    " FROM (SELECT 1) one LEFT JOIN r ON true ORDER BY r.cart_id"};
// The snapshot of a cart just reported, unless it changed since the page was read.
constexpr query q_sweep_snapshot{
    "sweep_snapshot",
    "SELECT c.snapshot FROM carts c JOIN cart_abandonment a ON a.cart_id = c.id"
    " WHERE c.id = $1 AND c.updated_at = a.idle_since"};
// At the start of each pass: marks left by a cart that another node purged meanwhile.
constexpr query q_sweep_orphans{
    "sweep_orphans",
    "DELETE FROM cart_abandonment a"
    " WHERE NOT EXISTS (SELECT 1 FROM carts c WHERE c.id = a.cart_id)"};
constexpr query q_idem_purge{"idem_purge", "DELETE FROM idempotency_keys WHERE expires_at < $1"};

session read_session(const pg::result& r) {
  return session{r.text(0, 0), r.text(0, 1), r.text(0, 2), r.text(0, 3), r.integer(0, 4),
                 r.integer(0, 5)};
}

class pg_store final : public store {
 public:
  pg_store(std::string url, int size, std::chrono::milliseconds wait)
      : url_(url), pool_(std::move(url), size, wait) {}

  std::vector<pool_figures> pools() const override { return {pool_.figures()}; }

  // Checkout, orders and the payment ledger: persistence/pg_checkout.cpp.
  open_checkout_result open_checkout(const checkout_session& s) override {
    auto c = pool_.acquire();
    return pg_checkout::open_checkout(*c, s);
  }
  std::optional<checkout_session> load_checkout(const std::string& id) override {
    auto c = pool_.acquire();
    return pg_checkout::load_checkout(*c, id);
  }
  std::optional<checkout_session> active_checkout_of(const cart_id& cart) override {
    auto c = pool_.acquire();
    return pg_checkout::active_checkout_of(*c, cart);
  }
  bool update_checkout(const checkout_session& s) override {
    auto c = pool_.acquire();
    return pg_checkout::update_checkout(*c, s);
  }
  bool expire_checkout(const std::string& id, std::int64_t now_ms, bool force) override {
    auto c = pool_.acquire();
    return pg_checkout::expire_checkout(*c, id, now_ms, force);
  }
  std::vector<std::string> due_checkouts(std::int64_t now_ms, int limit) override {
    auto c = pool_.acquire();
    return pg_checkout::due_checkouts(*c, now_ms, limit);
  }
  std::vector<checkout_session> processing_checkouts(int limit) override {
    auto c = pool_.acquire();
    return pg_checkout::processing_checkouts(*c, limit);
  }
  place_order_result place_order(const place_order_request& r) override {
    auto c = pool_.acquire();
    return pg_checkout::place_order(*c, r);
  }
  std::optional<order_record> load_order(const std::string& id) override {
    auto c = pool_.acquire();
    return pg_checkout::load_order(*c, id);
  }
  std::vector<order_record> list_orders(const order_query& q) override {
    auto c = pool_.acquire();
    return pg_checkout::list_orders(*c, q);
  }
  bool update_order(const order_record& o, bool restock,
                    const std::vector<outbox_event>& events) override {
    auto c = pool_.acquire();
    return pg_checkout::update_order(*c, o, restock, events);
  }
  std::vector<order_record> orders_to_capture(std::int64_t placed_before_ms, int limit) override {
    auto c = pool_.acquire();
    return pg_checkout::orders_to_capture(*c, placed_before_ms, limit);
  }
  std::vector<order_record> orders_to_settle(int limit) override {
    auto c = pool_.acquire();
    return pg_checkout::orders_to_settle(*c, limit);
  }
  bool remember_event(const std::string& id, std::int64_t now_ms) override {
    auto c = pool_.acquire();
    return c->run({"co_remember_event",
                   "INSERT INTO payment_events (id, received_at) VALUES ($1, $2)"
                   " ON CONFLICT (id) DO NOTHING"},
                  {id, std::to_string(now_ms)})
               .affected() == 1;
  }

  void remember_give_back(const payment_give_back& g) override {
    auto c = pool_.acquire();
    c->run({"co_give_back_put",
            "INSERT INTO payment_give_backs (payment_id, status, amount, created_at)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT (payment_id) DO NOTHING"},
           {g.payment_id, g.status, num(g.amount), num(g.created_at_ms)});
  }
  std::vector<payment_give_back> give_backs_due(std::int64_t before_ms, int limit) override {
    auto c = pool_.acquire();
    auto r = c->run({"co_give_backs_due",
                     "SELECT payment_id, status, amount, created_at FROM payment_give_backs"
                     " WHERE created_at < $1 ORDER BY created_at LIMIT $2"},
                    {num(before_ms), num(limit)});
    std::vector<payment_give_back> out;
    for (int i = 0; i < r.rows(); ++i)
      out.push_back({r.text(i, 0), r.text(i, 1), r.integer(i, 2), r.integer(i, 3)});
    return out;
  }
  void forget_give_back(const std::string& id) override {
    auto c = pool_.acquire();
    c->run({"co_give_back_forget", "DELETE FROM payment_give_backs WHERE payment_id = $1"}, {id});
  }

  std::optional<ledger_payment> ledger_by_key(const std::string& idempotency_key) override {
    auto c = pool_.acquire();
    return pg_checkout::ledger_by_key(*c, idempotency_key);
  }
  ledger_payment ledger_insert(const ledger_payment& p) override {
    auto c = pool_.acquire();
    return pg_checkout::ledger_insert(*c, p);
  }
  std::optional<ledger_payment> ledger_get(const std::string& id) override {
    auto c = pool_.acquire();
    return pg_checkout::ledger_get(*c, id);
  }
  bool ledger_move(const std::string& id, const std::string& from, const std::string& to) override {
    auto c = pool_.acquire();
    return pg_checkout::ledger_move(*c, id, from, to);
  }
  std::vector<ledger_payment> ledger_by_reference(const std::string& reference) override {
    auto c = pool_.acquire();
    return pg_checkout::ledger_by_reference(*c, reference);
  }

  std::string kind() const override { return "postgresql"; }

  int migrate() override {
    auto c = pool_.acquire();
    // Two nodes starting at once: the advisory lock lets one migrate while the other waits.
    c->exec("SELECT pg_advisory_lock(7262731)");
    int applied = 0;
    try {
      c->exec("CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY,"
              " applied_at bigint NOT NULL)");
      for (const auto& [version, sql] : migrations()) {
        pg::transaction tx(*c);
        auto has = c->run({"migration_applied", "SELECT 1 FROM schema_migrations WHERE version = $1"},
                          {num(version)});
        if (has.rows() > 0) continue;
        c->exec(sql);
        c->run({"migration_mark", "INSERT INTO schema_migrations (version, applied_at)"
                                  " VALUES ($1, (extract(epoch from now()) * 1000)::bigint)"},
               {num(version)});
        tx.commit();
        ++applied;
      }
    } catch (...) {
      c->exec("SELECT pg_advisory_unlock(7262731)");
      throw;
    }
    c->exec("SELECT pg_advisory_unlock(7262731)");
    return applied;
  }

  void ping() override {
    auto c = pool_.acquire();
    c->exec("SELECT 1");
  }

  std::optional<cart> load_cart(const cart_id& id) override {
    auto c = pool_.acquire();
    auto r = c->run(q_load_cart, {id.value});
    if (r.rows() == 0) return std::nullopt;
    auto decoded = decode_snapshot(r.text(0, 0));
    if (!decoded) throw store_error("corrupt snapshot for cart " + id.value);
    return decoded;
  }

  std::vector<write_status> commit(const std::vector<write_unit>& units) override {
    auto c = pool_.acquire();
    // Units of one write (nearly all) go into one statement; a merge (two writes that must
    // land together), a repeated cart, or a version that is not the next one goes alone.
    std::vector<write_status> out(units.size(), write_status::conflict);
    std::vector<std::size_t> batched;
    std::vector<std::size_t> alone;
    std::set<std::string> seen;
    for (std::size_t i = 0; i < units.size(); ++i) {
      const auto& u = units[i];
      bool simple = u.writes.size() == 1 &&
                    u.writes[0].snapshot.version == u.writes[0].expected_version + 1 &&
                    seen.insert(u.writes[0].snapshot.id.value).second;
      (simple ? batched : alone).push_back(i);
    }
    if (!batched.empty()) commit_batch(*c, units, batched, out);
    for (auto i : alone) out[i] = commit_one(*c, units[i]);
    return out;
  }

  std::vector<cart> list_carts(const principal& owner, int limit,
                               const std::optional<page_key>& after) override {
    auto c = pool_.acquire();
    std::optional<std::string> group, at, id;
    if (after) {
      group = num(after->group);
      at = num(after->created_at_ms);
      id = after->id;
    }
    auto r = c->run(q_list_carts,
                    {opt(owner.user), opt(owner.session), group, at, id, num(limit + 1)});
    std::vector<cart> out;
    for (int i = 0; i < r.rows(); ++i)
      if (auto decoded = decode_snapshot(r.text(i, 0))) out.push_back(std::move(*decoded));
    return out;
  }

  int count_active_carts(const principal& owner, int cap) override {
    auto c = pool_.acquire();
    auto r = c->run(q_count_active_carts, {opt(owner.user), opt(owner.session), num(cap)});
    return r.rows() > 0 ? static_cast<int>(r.integer(0, 0)) : 0;
  }

  bool upsert_product(const product& p) override {
    auto c = pool_.acquire();
    pg::transaction tx(*c);
    bool created = c->run(q_product_exists, {p.id.value}).rows() == 0;
    c->run(q_upsert_product, {p.id.value, p.name, p.currency, p.active ? "true" : "false",
                              num(p.updated_at_ms)});
    params ids;
    int pos = 0;
    for (const auto& v : p.variants) {
      c->run(q_upsert_variant,
             {p.id.value, v.id.value, v.sku, num(v.price), num(v.stock), num(pos++), opt(v.name),
              opt(encode_options(v.options))});
      ids.push_back(v.id.value);
    }
    c->run(q_prune_variants, {p.id.value, pg::array_literal(ids)});
    tx.commit();
    return created;
  }

  std::optional<product> get_product(const product_id& id) override {
    auto c = pool_.acquire();
    auto r = c->run(q_get_product, {id.value});
    if (r.rows() == 0) return std::nullopt;
    product p;
    p.id = id;
    p.name = r.text(0, 0);
    p.currency = r.text(0, 1);
    p.active = r.text(0, 2) == "t";
    p.created_at_ms = r.integer(0, 3);
    p.updated_at_ms = r.integer(0, 4);
    auto vs = c->run(q_get_variants, {id.value});
    for (int i = 0; i < vs.rows(); ++i) {
      p.variants.push_back(variant{variant_id{vs.text(i, 0)}, vs.text(i, 1), vs.integer(i, 2),
                                   vs.integer(i, 3), vs.integer(i, 4), vs.text(i, 5),
                                   decode_options(vs.text(i, 6))});
    }
    return p;
  }

  std::vector<product> list_products(const product_query& q) override {
    std::vector<std::string> ids;
    {
      auto c = pool_.acquire();
      std::optional<std::string> after_at, after_id;
      if (q.after) {
        after_at = num(q.after->created_at_ms);
        after_id = q.after->id;
      }
      auto r = c->run(q_list_products, {q.name_contains, after_at, after_id, num(q.limit + 1)});
      for (int i = 0; i < r.rows(); ++i) ids.push_back(r.text(i, 0));
    }
    std::vector<product> out;
    for (const auto& id : ids)
      if (auto p = get_product(product_id{id})) out.push_back(std::move(*p));
    return out;
  }

  void create_session(const session& s, const idempotency_completion* completes) override {
    auto c = pool_.acquire();
    pg::transaction tx(*c);
    c->run(q_insert_session, {s.id, s.token_hash, opt(s.user_id), opt(s.device_json),
                              num(s.expires_at_ms), num(s.created_at_ms)});
    complete_or_roll_back(*c, completes);
    tx.commit();
  }

  std::optional<session> find_session(const std::string& id) override {
    auto c = pool_.acquire();
    auto r = c->run(q_session_by_id, {id});
    if (r.rows() == 0) return std::nullopt;
    return read_session(r);
  }

  std::optional<session> find_session_by_token(const std::string& token_hash) override {
    auto c = pool_.acquire();
    auto r = c->run(q_session_by_token, {token_hash});
    if (r.rows() == 0) return std::nullopt;
    return read_session(r);
  }

  void update_session(const session& s) override {
    auto c = pool_.acquire();
    c->run(q_update_session, {s.id, opt(s.device_json), num(s.expires_at_ms)});
  }

  bool delete_session(const std::string& id) override {
    auto c = pool_.acquire();
    return c->run(q_delete_session, {id}).affected() > 0;
  }

  idempotency_claim claim_idempotency_key(const idempotency_request& r) override {
    auto c = pool_.acquire();
    pg::transaction tx(*c);
    if (++claims_ % 1024 == 0) c->run(q_idem_purge, {num(r.now_ms)});
    // Twice at most: a first claim that loses the race to a concurrent one reads the winner's
    // row (READ COMMITTED gives each statement a fresh snapshot) and answers from it.
    idempotency_claim out;
    for (int round = 0; round < 2; ++round) {
      out = idempotency_claim{};
      auto get = c->run(q_idem_get, {r.scope, r.key});
      bool exists = get.rows() > 0;
      if (exists && get.integer(0, 7) > r.now_ms) {
        bool running = get.text(0, 1) == "running";
        bool abandoned = get.text(0, 8) == r.node && get.text(0, 9) != r.boot;
        bool stale = running && (abandoned || r.now_ms - get.integer(0, 6) > r.stale_after_ms);
        if (get.text(0, 0) != r.fingerprint && !stale) {
          out.outcome = idempotency_claim::state::reused;
        } else if (running && !stale) {
          out.outcome = idempotency_claim::state::in_progress;
        } else if (!running) {
          out.outcome = idempotency_claim::state::replay;
          out.response = stored_response{static_cast<int>(get.integer(0, 2)), get.text(0, 3),
                                         get.text(0, 4), get.text(0, 5), get.text(0, 10)};
        }
      }
      if (out.outcome != idempotency_claim::state::claimed) break;
      std::vector<std::optional<std::string>> args{r.scope, r.key, r.fingerprint, num(r.now_ms),
                                                   num(r.now_ms + r.ttl_ms), r.node, r.boot};
      if (exists) {  // an expired or stale row, locked by the read above
        c->run(q_idem_claim, args);
        break;
      }
      if (c->run(q_idem_claim_new, args).affected() == 1) break;
      out.outcome = idempotency_claim::state::in_progress;  // lost the race; read the winner
    }
    tx.commit();
    return out;
  }

  void complete_idempotency_key(const std::string& scope, const std::string& key,
                                const stored_response& r) override {
    auto c = pool_.acquire();
    complete(*c, idempotency_completion{scope, key, r});
  }

  /// Stores the answer of a claim still running; false when the claim is gone (released after
  /// a timed-out 503, so the change it answers must not commit either).
  static bool complete(pg::connection& c, const idempotency_completion& done) {
    const auto& r = done.response;
    return c.run(q_idem_complete,
                 {done.scope, done.key, num(r.status), r.content_type, r.etag, r.body,
                  r.location})
               .affected() == 1;
  }

  static void complete_or_roll_back(pg::connection& c, const idempotency_completion* done) {
    if (done && !complete(c, *done))
      throw store_error("the Idempotency-Key claim was released; nothing was written");
  }

  void release_idempotency_key(const std::string& scope, const std::string& key) override {
    auto c = pool_.acquire();
    c->run(q_idem_release, {scope, key});
  }

  bool put_pricing_rule(const pricing_rule& r, const idempotency_completion* completes) override {
    auto c = pool_.acquire();
    pg::transaction tx(*c);
    auto res = c->run(q_rule_put, {r.kind, r.id, opt(r.code), r.body});
    complete_or_roll_back(*c, completes);
    tx.commit();
    return res.text(0, 0) == "t";  // xmax = 0: the row was inserted, not updated
  }

  std::vector<pricing_rule> list_pricing_rules(const std::string& kind) override {
    auto c = pool_.acquire();
    auto r = c->run(q_rule_list, {kind});
    std::vector<pricing_rule> out;
    for (int i = 0; i < r.rows(); ++i)
      out.push_back(pricing_rule{r.text(i, 0), r.text(i, 1), r.text(i, 2), r.text(i, 3),
                                 r.integer(i, 4), r.integer(i, 5)});
    return out;
  }

  bool delete_pricing_rule(const std::string& kind, const std::string& id) override {
    auto c = pool_.acquire();
    return c->run(q_rule_delete, {kind, id}).affected() > 0;
  }

  bool replace_pricing_rule(const pricing_rule& r, const std::string& expected_body) override {
    auto c = pool_.acquire();
    auto res = c->run(q_rule_replace, {r.kind, r.id, opt(r.code), r.body, expected_body});
    return res.affected() > 0;
  }

  bool count_discount_use(const std::string& id, std::optional<std::int64_t> limit) override {
    auto c = pool_.acquire();
    std::optional<std::string> cap;
    if (limit) cap = std::to_string(*limit);
    return c->run(q_use_discount, {id, cap}).affected() > 0;
  }

  bool release_discount_use(const std::string& id) override {
    auto c = pool_.acquire();
    return c->run(q_release_discount, {id}).affected() > 0;
  }

  lifecycle_step sweep_carts(const std::string& after_id, int limit, std::int64_t idle_before_ms,
                             std::int64_t expire_before_ms, bool with_events,
                             std::int64_t now_ms) override {
    auto c = pool_.acquire();
    pg::transaction tx(*c);
    if (after_id.empty()) c->run(q_sweep_orphans, {});
    auto r = c->run(
        q_sweep, {after_id, num(limit), num(idle_before_ms), num(expire_before_ms), num(now_ms)});
    lifecycle_step out;
    if (r.rows() > 0 && !r.null(0, 0)) out.last_id = r.text(0, 0);
    out.scanned = static_cast<int>(r.integer(0, 1));
    out.idle = static_cast<int>(r.integer(0, 2));
    out.purged = static_cast<int>(r.integer(0, 3));
    for (int i = 0; i < r.rows(); ++i) {
      if (r.null(i, 4)) continue;  // the one row of a step that reported nothing
      ++out.reported;
      if (!with_events) continue;
      auto id = r.text(i, 4);
      auto snap = c->run(q_sweep_snapshot, {id});
      auto cart = snap.rows() > 0 ? decode_snapshot(snap.text(0, 0)) : std::nullopt;
      if (!cart) continue;  // unreadable: marked all the same, so it is not picked again
      c->run(q_outbox_insert, {id, std::string("cart_abandoned"),
                               encode_event("cart_abandoned", *cart, nullptr, "", now_ms)});
    }
    tx.commit();
    return out;
  }

  bool hold_relay_lease() override {
    // A session-level advisory lock on a connection of its own: the lease lasts as long as
    // that connection; when it breaks, the next call tries to take the lease again.
    std::lock_guard<std::mutex> guard(lease_mtx_);
    try {
      if (lease_conn_ && lease_conn_->healthy() && leased_) {
        lease_conn_->exec("SELECT 1");
        return true;
      }
      lease_conn_ = std::make_unique<pg::connection>(url_);
      auto r = lease_conn_->exec("SELECT pg_try_advisory_lock(7262732)");
      leased_ = r.text(0, 0) == "t";
      return leased_;
    } catch (const store_error&) {
      lease_conn_.reset();
      leased_ = false;
      return false;
    }
  }

  std::vector<outbox_row> fetch_outbox(int limit) override {
    auto c = pool_.acquire();
    auto r = c->run(q_outbox_fetch, {num(limit)});
    std::vector<outbox_row> out;
    for (int i = 0; i < r.rows(); ++i)
      out.push_back(outbox_row{r.integer(i, 0), {r.text(i, 1), r.text(i, 2), r.text(i, 3)}});
    return out;
  }

  void delete_outbox(const std::vector<std::int64_t>& ids) override {
    params p;
    for (auto id : ids) p.push_back(num(id));
    auto c = pool_.acquire();
    c->run(q_outbox_delete, {pg::array_literal(p)});
  }

 private:
  static void commit_batch(pg::connection& c, const std::vector<write_unit>& units,
                           const std::vector<std::size_t>& batched, std::vector<write_status>& out) {
    params id, user, sess, status, version, snapshot, created, updated;
    params k_cart, k_scope, k_key, k_status, k_ct, k_etag, k_body, k_loc;
    params e_cart, e_type, e_payload;
    for (auto i : batched) {
      const auto& u = units[i];
      const cart& s = u.writes[0].snapshot;
      id.push_back(s.id.value);
      user.push_back(opt(s.user_id));
      sess.push_back(opt(s.session_id));
      status.push_back(std::string(to_string(s.status)));
      version.push_back(num(static_cast<std::int64_t>(s.version)));
      snapshot.push_back(encode_snapshot(s));
      created.push_back(num(s.created_at_ms));
      updated.push_back(num(s.updated_at_ms));
      for (const auto& e : u.events) {
        e_cart.push_back(e.cart_id);
        e_type.push_back(e.type);
        e_payload.push_back(e.payload);
      }
      if (u.completes) {
        const auto& d = *u.completes;
        k_cart.push_back(s.id.value);
        k_scope.push_back(d.scope);
        k_key.push_back(d.key);
        k_status.push_back(num(d.response.status));
        k_ct.push_back(d.response.content_type);
        k_etag.push_back(d.response.etag);
        k_body.push_back(d.response.body);
        k_loc.push_back(d.response.location);
      }
    }
    auto landed = c.run(q_commit_batch,
                        {pg::array_literal(id), pg::array_literal(user), pg::array_literal(sess),
                         pg::array_literal(status), pg::array_literal(version),
                         pg::array_literal(snapshot), pg::array_literal(created),
                         pg::array_literal(updated), pg::array_literal(k_cart),
                         pg::array_literal(k_scope), pg::array_literal(k_key),
                         pg::array_literal(k_status), pg::array_literal(k_ct),
                         pg::array_literal(k_etag), pg::array_literal(k_body),
                         pg::array_literal(e_cart), pg::array_literal(e_type),
                         pg::array_literal(e_payload), pg::array_literal(k_loc)});
    std::set<std::string> ok;
    for (int r = 0; r < landed.rows(); ++r) ok.insert(landed.text(r, 0));
    for (auto i : batched)
      out[i] = ok.count(units[i].writes[0].snapshot.id.value) ? write_status::committed
                                                              : write_status::conflict;
  }

  static write_status commit_one(pg::connection& c, const write_unit& u) {
    pg::transaction tx(c);
    for (const auto& w : u.writes) {
      const cart& s = w.snapshot;
      int n = w.expected_version == 0
                  ? c.run(q_insert_cart, {s.id.value, opt(s.user_id), opt(s.session_id),
                                          std::string(to_string(s.status)),
                                          num(static_cast<std::int64_t>(s.version)),
                                          encode_snapshot(s), num(s.created_at_ms),
                                          num(s.updated_at_ms)})
                        .affected()
                  : c.run(q_update_cart, {s.id.value, std::string(to_string(s.status)),
                                          num(static_cast<std::int64_t>(s.version)),
                                          encode_snapshot(s), num(s.updated_at_ms),
                                          num(static_cast<std::int64_t>(w.expected_version))})
                        .affected();
      if (n != 1) return write_status::conflict;  // rolls back
    }
    for (const auto& e : u.events) c.run(q_outbox_insert, {e.cart_id, e.type, e.payload});
    if (u.completes && !complete(c, *u.completes)) return write_status::conflict;  // claim gone
    tx.commit();
    return write_status::committed;
  }

  std::string url_;
  pg::pool pool_;
  std::atomic<std::uint64_t> claims_{0};
  std::mutex lease_mtx_;
  std::unique_ptr<pg::connection> lease_conn_;
  bool leased_ = false;
};

}  // namespace

std::unique_ptr<store> make_pg_store(const std::string& url, int pool_size,
                                     std::chrono::milliseconds pool_wait) {
  return std::make_unique<pg_store>(url, pool_size, pool_wait);
}

}  // namespace cartd
