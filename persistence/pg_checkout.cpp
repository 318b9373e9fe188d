#include "persistence/pg_checkout.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "persistence/checkout_codec.hpp"
#include "persistence/snapshot_codec.hpp"

namespace cartd::pg_checkout {

namespace {

// Lock order, so that transactions on several nodes wait on each other but never in a cycle:
// the cart's checkout lock (open_checkout only) → checkout sessions (by id) → the cart row →
// discounts (pricing_rules, by id) → variants (by product id, then variant id, byte order:
// COLLATE "C" in SQL is the order of std::string in C++) → the order row.
// update_order locks its order row first, then discounts, then variants.

using params = std::vector<std::optional<std::string>>;
using pg::query;

std::optional<std::string> opt(const std::string& s) {
  return s.empty() ? std::nullopt : std::optional<std::string>(s);
}
std::string num(std::int64_t v) { return std::to_string(v); }
std::string ver(std::uint64_t v) { return std::to_string(static_cast<std::int64_t>(v)); }

// Serialises open_checkout per cart, as SQLite's one writer does: without it, two opens of a
// cart that has no live session (or whose live session the first one just expired) would both
// find nothing to replace and leave two open sessions holding stock. Transaction-scoped; the
// two-key form keeps it apart from the store's one-key advisory locks (migrations, relay).
constexpr query q_lock_cart_checkouts{"co_lock_cart_checkouts",
                                      "SELECT pg_advisory_xact_lock(7262733, hashtext($1))"};
constexpr query q_live_of_cart{
    "co_live_of_cart",
    "SELECT doc FROM checkout_sessions WHERE cart_id = $1 AND status IN ('open', 'processing')"};
constexpr query q_lock_live_of_cart{
    "co_lock_live_of_cart",
    "SELECT doc FROM checkout_sessions WHERE cart_id = $1 AND status IN ('open', 'processing')"
    " ORDER BY id FOR UPDATE"};
constexpr query q_insert_session{
    "co_insert_session",
    "INSERT INTO checkout_sessions (id, cart_id, status, expires_at, version, doc, created_at)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7)"};
constexpr query q_load_session{"co_load_session",
                               "SELECT doc FROM checkout_sessions WHERE id = $1"};
// Two place_order (or expire) calls on one session: the second waits here, then reads the row
// as the first left it (completed, expired).
constexpr query q_lock_session{"co_lock_session",
                               "SELECT doc FROM checkout_sessions WHERE id = $1 FOR UPDATE"};
constexpr query q_update_session{
    "co_update_session",
    "UPDATE checkout_sessions SET status = $2, expires_at = $3, version = $4, doc = $5"
    " WHERE id = $1 AND version = $6"};
// Every variant open_checkout will touch (the replaced sessions' and its own), locked in one
// sorted sweep before any is changed.
constexpr query q_lock_variants{
    "co_lock_variants",
    "SELECT 1 FROM variants v JOIN unnest($1::text[], $2::text[]) AS k(product_id, variant_id)"
    " ON v.product_id = k.product_id AND v.id = k.variant_id"
    " ORDER BY v.product_id COLLATE \"C\", v.id COLLATE \"C\" FOR UPDATE OF v"};
// The row lock arbitrates between nodes: a second reservation waits, then re-checks the stock.
constexpr query q_reserve{
    "co_reserve",
    "UPDATE variants SET reserved = reserved + $3"
    " WHERE product_id = $1 AND id = $2 AND on_hand - reserved >= $3"};
constexpr query q_available{
    "co_available", "SELECT on_hand - reserved FROM variants WHERE product_id = $1 AND id = $2"};
constexpr query q_insert_reservation{
    "co_insert_reservation",
    "INSERT INTO reservations (checkout_id, product_id, variant_id, quantity)"
    " VALUES ($1, $2, $3, $4)"};
constexpr query q_reservations{
    "co_reservations",
    "SELECT product_id, variant_id, quantity FROM reservations WHERE checkout_id = $1"
    " ORDER BY product_id COLLATE \"C\", variant_id COLLATE \"C\""};
constexpr query q_unreserve{
    "co_unreserve",
    "UPDATE variants SET reserved = GREATEST(0, reserved - $3) WHERE product_id = $1 AND id = $2"};
constexpr query q_commit_stock{
    "co_commit_stock",
    "UPDATE variants SET reserved = GREATEST(0, reserved - $3),"
    " on_hand = GREATEST(0, on_hand - $3) WHERE product_id = $1 AND id = $2"};
constexpr query q_restock{
    "co_restock", "UPDATE variants SET on_hand = on_hand + $3 WHERE product_id = $1 AND id = $2"};
constexpr query q_drop_reservations{"co_drop_reservations",
                                    "DELETE FROM reservations WHERE checkout_id = $1"};
constexpr query q_due{
    "co_due",
    "SELECT id FROM checkout_sessions WHERE status IN ('open', 'processing') AND expires_at <= $1"
    " ORDER BY expires_at LIMIT $2"};
constexpr query q_processing{
    "co_processing",
    "SELECT doc FROM checkout_sessions WHERE status = 'processing' ORDER BY expires_at LIMIT $1"};
constexpr query q_load_cart{"co_load_cart", "SELECT snapshot FROM carts WHERE id = $1"};
constexpr query q_update_cart{
    "co_update_cart",
    "UPDATE carts SET status = $2, version = $3, snapshot = $4, updated_at = $5"
    " WHERE id = $1 AND version = $6"};
// A negative limit: none (as in SQLite, where the caller's nullopt is bound as -1).
constexpr query q_use_discount{
    "co_use_discount",
    "UPDATE pricing_rules SET used = used + 1 WHERE kind = 'discount' AND id = $1"
    " AND ($2::bigint < 0 OR used < $2::bigint)"};
constexpr query q_release_discount{
    "co_release_discount",
    "UPDATE pricing_rules SET used = used - 1 WHERE kind = 'discount' AND id = $1 AND used > 0"};
constexpr query q_insert_order_discount{
    "co_insert_order_discount", "INSERT INTO order_discounts (order_id, discount_id) VALUES ($1, $2)"};
constexpr query q_order_discounts{
    "co_order_discounts",
    "SELECT discount_id FROM order_discounts WHERE order_id = $1 ORDER BY discount_id COLLATE \"C\""};
constexpr query q_drop_order_discounts{"co_drop_order_discounts",
                                       "DELETE FROM order_discounts WHERE order_id = $1"};
constexpr query q_insert_order{
    "co_insert_order",
    "INSERT INTO orders (id, order_number, checkout_id, user_id, session_id, status,"
    " payment_status, version, doc, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    " ON CONFLICT (order_number) DO NOTHING"};
constexpr query q_order_of_checkout{"co_order_of_checkout",
                                    "SELECT doc FROM orders WHERE checkout_id = $1"};
constexpr query q_load_order{"co_load_order", "SELECT doc FROM orders WHERE id = $1"};
constexpr query q_update_order{
    "co_update_order",
    "UPDATE orders SET status = $2, payment_status = $3, version = $4, doc = $5"
    " WHERE id = $1 AND version = $6"};
// An empty owner is bound as NULL, which no row equals: it matches nothing.
constexpr query q_list_orders{
    "co_list_orders",
    "SELECT doc FROM orders WHERE ($1::int = 1 OR user_id = $2::text OR session_id = $3::text)"
    " AND ($4::text = '' OR status = $4::text) AND ($5::text = '' OR id < $5::text)"
    " ORDER BY id DESC LIMIT $6"};
constexpr query q_to_settle{
    "co_to_settle",
    "SELECT doc FROM orders WHERE status = 'cancelled'"
    " AND payment_status IN ('authorized', 'captured') ORDER BY id LIMIT $1"};
constexpr query q_to_capture{
    "co_to_capture",
    "SELECT doc FROM orders WHERE payment_status = 'authorized' AND status <> 'cancelled'"
    " AND created_at < $1 ORDER BY id LIMIT $2"};
constexpr query q_outbox_insert{
    "co_outbox_insert",
    "INSERT INTO outbox (cart_id, type, payload, created_at) VALUES ($1, $2, $3, $4)"};
constexpr query q_ledger_by_key{
    "co_ledger_by_key",
    "SELECT id, idempotency_key, reference, amount, currency, status, created_at"
    " FROM payment_ledger WHERE idempotency_key = $1"};
constexpr query q_ledger_get{
    "co_ledger_get",
    "SELECT id, idempotency_key, reference, amount, currency, status, created_at"
    " FROM payment_ledger WHERE id = $1"};
constexpr query q_ledger_by_ref{
    "co_ledger_by_ref",
    "SELECT id, idempotency_key, reference, amount, currency, status, created_at"
    " FROM payment_ledger WHERE reference = $1 ORDER BY created_at, id"};
constexpr query q_ledger_insert{
    "co_ledger_insert",
    "INSERT INTO payment_ledger (id, idempotency_key, reference, amount, currency, status,"
    " created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (idempotency_key) DO NOTHING"};
constexpr query q_ledger_move{"co_ledger_move",
                              "UPDATE payment_ledger SET status = $3 WHERE id = $1 AND status = $2"};

checkout_session session_at(const pg::result& r, int row) {
  auto s = decode_checkout(r.text(row, 0));
  if (!s) throw store_error("corrupt checkout session");
  return std::move(*s);
}

std::optional<checkout_session> one_session(const pg::result& r) {
  if (r.rows() == 0) return std::nullopt;
  return session_at(r, 0);
}

std::vector<checkout_session> all_sessions(const pg::result& r) {
  std::vector<checkout_session> out;
  for (int i = 0; i < r.rows(); ++i) out.push_back(session_at(r, i));
  return out;
}

order_record order_at(const pg::result& r, int row) {
  auto o = decode_order(r.text(row, 0));
  if (!o) throw store_error("corrupt order");
  return std::move(*o);
}

std::optional<order_record> one_order(const pg::result& r) {
  if (r.rows() == 0) return std::nullopt;
  return order_at(r, 0);
}

std::vector<order_record> all_orders(const pg::result& r) {
  std::vector<order_record> out;
  for (int i = 0; i < r.rows(); ++i) out.push_back(order_at(r, i));
  return out;
}

void write_session(pg::connection& c, const checkout_session& s) {
  c.run(q_insert_session, {s.id, s.cart.value, std::string(to_string(s.status)),
                           num(s.expires_at_ms), ver(s.version), encode_checkout(s),
                           num(s.created_at_ms)});
}

bool rewrite_session(pg::connection& c, const checkout_session& s) {
  return c.run(q_update_session, {s.id, std::string(to_string(s.status)), num(s.expires_at_ms),
                                  ver(s.version), encode_checkout(s), ver(s.version - 1)})
             .affected() == 1;
}

struct reservation {
  std::string product;
  std::string variant;
  std::int64_t quantity = 0;
};

/// The session's reservations, in lock order.
std::vector<reservation> reservations_of(pg::connection& c, const std::string& checkout_id) {
  auto r = c.run(q_reservations, {checkout_id});
  std::vector<reservation> out;
  for (int i = 0; i < r.rows(); ++i)
    out.push_back(reservation{r.text(i, 0), r.text(i, 1), r.integer(i, 2)});
  return out;
}

/// Gives the session's reserved units back (`how`: unreserve or commit) and forgets the
/// reservations; the variants are changed in lock order.
void release(pg::connection& c, const std::string& checkout_id, const query& how) {
  for (const auto& r : reservations_of(c, checkout_id))
    c.run(how, {r.product, r.variant, num(r.quantity)});
  c.run(q_drop_reservations, {checkout_id});
}

/// Marks `s` expired and releases its stock; false when another writer moved it first.
bool expire(pg::connection& c, checkout_session s, std::int64_t now_ms) {
  s.status = checkout_status::expired;
  s.updated_at_ms = now_ms;
  s.version += 1;
  if (!rewrite_session(c, s)) return false;
  release(c, s.id, q_unreserve);
  return true;
}

/// Locks the variant rows of `keys` (product id, variant id) in one sorted sweep.
void lock_variants(pg::connection& c, const std::set<std::pair<std::string, std::string>>& keys) {
  if (keys.empty()) return;
  params products, variants;
  for (const auto& [p, v] : keys) {
    products.push_back(p);
    variants.push_back(v);
  }
  c.run(q_lock_variants, {pg::array_literal(products), pg::array_literal(variants)});
}

ledger_payment ledger_row(const pg::result& r, int row) {
  return ledger_payment{r.text(row, 0), r.text(row, 1), r.text(row, 2), r.integer(row, 3),
                        r.text(row, 4), r.text(row, 5), r.integer(row, 6)};
}

void write_events(pg::connection& c, const std::vector<outbox_event>& events,
                  std::int64_t now_ms) {
  for (const auto& e : events) c.run(q_outbox_insert, {e.cart_id, e.type, e.payload, num(now_ms)});
}

}  // namespace

open_checkout_result open_checkout(pg::connection& c, const checkout_session& s) {
  open_checkout_result out;
  pg::transaction tx(c);
  c.run(q_lock_cart_checkouts, {s.cart.value});
  auto live = all_sessions(c.run(q_lock_live_of_cart, {s.cart.value}));
  for (const auto& old : live) {
    if (old.status == checkout_status::processing) {
      out.result = open_checkout_result::outcome::processing_exists;
      return out;  // rolled back: nothing changed
    }
  }
  const auto wanted = quantities_by_variant(s.lines);
  std::set<std::pair<std::string, std::string>> touched;
  for (const auto& entry : wanted) touched.emplace(entry.first.first.value, entry.first.second.value);
  for (const auto& old : live)
    for (const auto& r : reservations_of(c, old.id)) touched.emplace(r.product, r.variant);
  lock_variants(c, touched);
  for (const auto& old : live) {
    if (expire(c, old, s.created_at_ms)) out.replaced.push_back(old.id);
  }
  for (const auto& [key, quantity] : wanted) {
    const auto& [product, variant] = key;
    if (c.run(q_reserve, {product.value, variant.value, num(quantity)}).affected() == 1) {
      c.run(q_insert_reservation, {s.id, product.value, variant.value, num(quantity)});
      continue;
    }
    auto a = c.run(q_available, {product.value, variant.value});
    std::int64_t available = a.rows() > 0 ? std::max<std::int64_t>(0, a.integer(0, 0)) : 0;
    out.shortages.push_back(stock_shortage{product, variant, quantity, available});
  }
  if (!out.shortages.empty()) {
    out.result = open_checkout_result::outcome::insufficient_stock;
    out.replaced.clear();
    return out;  // rolled back: no reservation, the replaced sessions stay as they were
  }
  write_session(c, s);
  tx.commit();
  return out;
}

std::optional<checkout_session> load_checkout(pg::connection& c, const std::string& id) {
  return one_session(c.run(q_load_session, {id}));
}

std::optional<checkout_session> active_checkout_of(pg::connection& c, const cart_id& cart) {
  return one_session(c.run(q_live_of_cart, {cart.value}));
}

bool update_checkout(pg::connection& c, const checkout_session& s) {
  return rewrite_session(c, s);
}

bool expire_checkout(pg::connection& c, const std::string& id, std::int64_t now_ms, bool force) {
  pg::transaction tx(c);
  auto s = one_session(c.run(q_lock_session, {id}));
  if (!s || (s->status != checkout_status::open && s->status != checkout_status::processing))
    return false;
  if (!force && s->expires_at_ms > now_ms) return false;
  if (!expire(c, *s, now_ms)) return false;
  tx.commit();
  return true;
}

std::vector<std::string> due_checkouts(pg::connection& c, std::int64_t now_ms, int limit) {
  auto r = c.run(q_due, {num(now_ms), num(limit)});
  std::vector<std::string> out;
  for (int i = 0; i < r.rows(); ++i) out.push_back(r.text(i, 0));
  return out;
}

std::vector<checkout_session> processing_checkouts(pg::connection& c, int limit) {
  return all_sessions(c.run(q_processing, {num(limit)}));
}

place_order_result place_order(pg::connection& c, const place_order_request& r) {
  using outcome = place_order_result::outcome;
  place_order_result out;
  pg::transaction tx(c);
  // Locked first: a concurrent place_order of this session waits here, then finds it completed.
  auto s = one_session(c.run(q_lock_session, {r.order.checkout_id}));
  if (!s) return place_order_result{outcome::not_found, {}};
  if (s->status == checkout_status::completed) {
    if (auto o = one_order(c.run(q_order_of_checkout, {s->id})))
      return place_order_result{outcome::already_placed, *o};
  }
  if (s->status == checkout_status::expired || s->status == checkout_status::completed ||
      s->expires_at_ms <= r.now_ms)
    return place_order_result{outcome::expired, {}};
  // The cart: still as the session saw it, then checked out (the version condition of the
  // update waits for, then loses to, a concurrent write).
  {
    auto row = c.run(q_load_cart, {s->cart.value});
    if (row.rows() == 0) return place_order_result{outcome::cart_changed, {}};
    auto snap = decode_snapshot(row.text(0, 0));
    if (!snap || snap->version != s->cart_version || snap->status != cart_status::active)
      return place_order_result{outcome::cart_changed, {}};
    auto next = *snap;
    next.status = cart_status::checked_out;
    next.version += 1;
    next.updated_at_ms = r.now_ms;
    auto up = c.run(q_update_cart, {next.id.value, std::string(to_string(next.status)),
                                    ver(next.version), encode_snapshot(next), num(r.now_ms),
                                    ver(snap->version)});
    if (up.affected() != 1) return place_order_result{outcome::cart_changed, {}};
  }
  // Discounts in id order (lock order); all or nothing, so the order changes no outcome.
  auto discounts = r.discounts;
  std::stable_sort(discounts.begin(), discounts.end(),
                   [](const discount_use& a, const discount_use& b) { return a.id < b.id; });
  for (const auto& d : discounts) {
    if (c.run(q_use_discount, {d.id, num(d.limit.value_or(-1))}).affected() != 1)
      return place_order_result{outcome::used_up, {}};
    c.run(q_insert_order_discount, {r.order.id, d.id});
  }
  release(c, s->id, q_commit_stock);
  const auto& o = r.order;
  auto inserted = c.run(q_insert_order,
        {o.id, o.order_number, o.checkout_id, opt(o.user_id), opt(o.session_id),
         std::string(to_string(o.status)), std::string(to_string(o.payment.status)),
         ver(o.version), encode_order(o), num(o.created_at_ms)});
  // Order numbers are random: one already taken leaves nothing written (the transaction is
  // rolled back) and the caller draws another.
  if (inserted.affected() != 1) return place_order_result{outcome::number_taken, {}};
  auto done = *s;
  done.status = checkout_status::completed;
  done.order_id = o.id;
  done.updated_at_ms = r.now_ms;
  done.version += 1;
  if (!rewrite_session(c, done)) throw store_error("checkout session moved during place_order");
  write_events(c, r.events, r.now_ms);
  tx.commit();
  out.result = outcome::placed;
  out.order = o;
  return out;
}

std::optional<order_record> load_order(pg::connection& c, const std::string& id) {
  return one_order(c.run(q_load_order, {id}));
}

std::vector<order_record> list_orders(pg::connection& c, const order_query& q) {
  return all_orders(c.run(
      q_list_orders, {std::string(q.all ? "1" : "0"), opt(q.user_id), opt(q.session_id),
                      std::string(q.status ? to_string(*q.status) : ""), q.after_id,
                      num(q.limit)}));
}

bool update_order(pg::connection& c, const order_record& o, bool restock,
                  const std::vector<outbox_event>& events) {
  pg::transaction tx(c);
  auto up = c.run(q_update_order, {o.id, std::string(to_string(o.status)),
                                   std::string(to_string(o.payment.status)), ver(o.version),
                                   encode_order(o), ver(o.version - 1)});
  if (up.affected() != 1) return false;
  if (restock) {
    // Discounts before variants, as place_order locks them.
    auto used = c.run(q_order_discounts, {o.id});
    for (int i = 0; i < used.rows(); ++i) c.run(q_release_discount, {used.text(i, 0)});
    c.run(q_drop_order_discounts, {o.id});
    // Summed per variant and in lock order (two items of one variant: one update).
    std::map<std::pair<std::string, std::string>, std::int64_t> back;
    for (const auto& i : o.items) back[{i.product.value, i.variant.value}] += i.quantity;
    for (const auto& [key, quantity] : back)
      c.run(q_restock, {key.first, key.second, num(quantity)});
  }
  write_events(c, events, o.updated_at_ms);
  tx.commit();
  return true;
}

std::vector<order_record> orders_to_capture(pg::connection& c, std::int64_t placed_before_ms,
                                            int limit) {
  return all_orders(c.run(q_to_capture, {num(placed_before_ms), num(limit)}));
}

std::vector<order_record> orders_to_settle(pg::connection& c, int limit) {
  return all_orders(c.run(q_to_settle, {num(limit)}));
}

std::optional<ledger_payment> ledger_by_key(pg::connection& c, const std::string& key) {
  auto r = c.run(q_ledger_by_key, {key});
  if (r.rows() == 0) return std::nullopt;
  return ledger_row(r, 0);
}

ledger_payment ledger_insert(pg::connection& c, const ledger_payment& p) {
  // A concurrent insert of the same key: this one waits for it, then does nothing.
  c.run(q_ledger_insert, {p.id, p.idempotency_key, p.reference, num(p.amount), p.currency,
                          p.status, num(p.created_at_ms)});
  auto stored = ledger_by_key(c, p.idempotency_key);
  if (!stored) throw store_error("payment ledger: insert lost");
  return *stored;
}

std::optional<ledger_payment> ledger_get(pg::connection& c, const std::string& id) {
  auto r = c.run(q_ledger_get, {id});
  if (r.rows() == 0) return std::nullopt;
  return ledger_row(r, 0);
}

bool ledger_move(pg::connection& c, const std::string& id, const std::string& from,
                 const std::string& to) {
  return c.run(q_ledger_move, {id, from, to}).affected() == 1;
}

std::vector<ledger_payment> ledger_by_reference(pg::connection& c, const std::string& ref) {
  auto r = c.run(q_ledger_by_ref, {ref});
  std::vector<ledger_payment> out;
  for (int i = 0; i < r.rows(); ++i) out.push_back(ledger_row(r, i));
  return out;
}

}  // namespace cartd::pg_checkout
