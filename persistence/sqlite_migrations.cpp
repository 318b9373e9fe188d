#include "persistence/sqlite_migrations.hpp"

namespace cartd::sqlite {

const std::vector<migration>& migrations() {
  static const std::vector<migration> all = {
      {1, R"sql(
CREATE TABLE products (
  id TEXT PRIMARY KEY, name TEXT NOT NULL, currency TEXT NOT NULL, active INTEGER NOT NULL,
  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE TABLE variants (
  product_id TEXT NOT NULL REFERENCES products(id) ON DELETE CASCADE, id TEXT NOT NULL,
  sku TEXT NOT NULL, price INTEGER NOT NULL, on_hand INTEGER NOT NULL,
  reserved INTEGER NOT NULL DEFAULT 0, position INTEGER NOT NULL,
  PRIMARY KEY (product_id, id));
CREATE TABLE carts (
  id TEXT PRIMARY KEY, user_id TEXT, session_id TEXT, status TEXT NOT NULL,
  version INTEGER NOT NULL, snapshot TEXT NOT NULL,
  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE INDEX carts_by_user ON carts (user_id) WHERE user_id IS NOT NULL;
CREATE INDEX carts_by_session ON carts (session_id) WHERE session_id IS NOT NULL;
CREATE TABLE sessions (
  id TEXT PRIMARY KEY, token_hash TEXT NOT NULL UNIQUE, user_id TEXT, device_info TEXT,
  expires_at INTEGER NOT NULL, created_at INTEGER NOT NULL);
CREATE INDEX sessions_by_user ON sessions (user_id) WHERE user_id IS NOT NULL;
CREATE TABLE idempotency_keys (
  scope TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL, state TEXT NOT NULL,
  status INTEGER, content_type TEXT, etag TEXT, body BLOB,
  created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
  PRIMARY KEY (scope, key));
CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys (expires_at);
)sql"},
      {2, R"sql(
ALTER TABLE idempotency_keys ADD COLUMN owner_node TEXT;
ALTER TABLE idempotency_keys ADD COLUMN owner_boot TEXT;
)sql"},
      {3, R"sql(
CREATE TABLE outbox (
  id INTEGER PRIMARY KEY AUTOINCREMENT, cart_id TEXT NOT NULL, type TEXT NOT NULL,
  payload TEXT NOT NULL, created_at INTEGER NOT NULL);
)sql"},
      {4, R"sql(
CREATE TABLE pricing_rules (
  kind TEXT NOT NULL, id TEXT NOT NULL, code TEXT, body TEXT NOT NULL, seq INTEGER NOT NULL,
  used INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (kind, id));
CREATE UNIQUE INDEX pricing_rules_by_code ON pricing_rules (kind, code) WHERE code IS NOT NULL;
)sql"},
      {5, R"sql(
CREATE TABLE cart_abandonment (
  cart_id TEXT PRIMARY KEY, idle_since INTEGER NOT NULL, reported_at INTEGER NOT NULL);
)sql"},
      {6, R"sql(
CREATE TABLE checkout_sessions (
  id TEXT PRIMARY KEY, cart_id TEXT NOT NULL, status TEXT NOT NULL, expires_at INTEGER NOT NULL,
  version INTEGER NOT NULL, doc TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE INDEX checkout_sessions_by_cart ON checkout_sessions (cart_id);
CREATE INDEX checkout_sessions_live ON checkout_sessions (expires_at)
  WHERE status IN ('open', 'processing');
CREATE TABLE reservations (
  checkout_id TEXT NOT NULL, product_id TEXT NOT NULL, variant_id TEXT NOT NULL,
  quantity INTEGER NOT NULL, PRIMARY KEY (checkout_id, product_id, variant_id));
CREATE TABLE orders (
  id TEXT PRIMARY KEY, order_number TEXT NOT NULL UNIQUE, checkout_id TEXT NOT NULL UNIQUE,
  user_id TEXT, session_id TEXT, status TEXT NOT NULL, payment_status TEXT NOT NULL,
  version INTEGER NOT NULL, doc TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE INDEX orders_by_user ON orders (user_id, id) WHERE user_id IS NOT NULL;
CREATE INDEX orders_by_session ON orders (session_id, id) WHERE session_id IS NOT NULL;
CREATE INDEX orders_to_settle ON orders (id)
  WHERE status = 'cancelled' AND payment_status IN ('authorized', 'captured');
CREATE TABLE order_discounts (
  order_id TEXT NOT NULL, discount_id TEXT NOT NULL, PRIMARY KEY (order_id, discount_id));
CREATE TABLE payment_ledger (
  id TEXT PRIMARY KEY, idempotency_key TEXT NOT NULL UNIQUE, reference TEXT NOT NULL,
  amount INTEGER NOT NULL, currency TEXT NOT NULL, status TEXT NOT NULL,
  created_at INTEGER NOT NULL);
CREATE INDEX payment_ledger_by_reference ON payment_ledger (reference);
CREATE TABLE payment_events (id TEXT PRIMARY KEY, received_at INTEGER NOT NULL);
)sql"},
      {7, R"sql(
ALTER TABLE variants ADD COLUMN name TEXT;
ALTER TABLE variants ADD COLUMN options TEXT;
ALTER TABLE idempotency_keys ADD COLUMN location TEXT;
CREATE INDEX products_newest ON products (created_at DESC, id DESC) WHERE active = 1;
CREATE INDEX carts_by_user_newest ON carts (user_id, created_at DESC, id DESC)
  WHERE user_id IS NOT NULL;
)sql"},
      {8, R"sql(
CREATE TABLE payment_give_backs (
  payment_id TEXT PRIMARY KEY, status TEXT NOT NULL, amount INTEGER NOT NULL,
  created_at INTEGER NOT NULL);
)sql"},
  };
  return all;
}

}  // namespace cartd::sqlite
