#include "persistence/sqlite_checkout.hpp"

#include "persistence/checkout_codec.hpp"
#include "persistence/snapshot_codec.hpp"

namespace cartd::sqlite_checkout {

namespace {

using sqlite::statement;

constexpr const char* k_live_of_cart =
    "SELECT doc FROM checkout_sessions WHERE cart_id = ?1 AND status IN ('open', 'processing')";
constexpr const char* k_insert_session =
    "INSERT INTO checkout_sessions (id, cart_id, status, expires_at, version, doc, created_at)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
constexpr const char* k_load_session = "SELECT doc FROM checkout_sessions WHERE id = ?1";
constexpr const char* k_update_session =
    "UPDATE checkout_sessions SET status = ?2, expires_at = ?3, version = ?4, doc = ?5"
    " WHERE id = ?1 AND version = ?6";
constexpr const char* k_reserve =
    "UPDATE variants SET reserved = reserved + ?3"
    " WHERE product_id = ?1 AND id = ?2 AND on_hand - reserved >= ?3";
constexpr const char* k_available =
    "SELECT on_hand - reserved FROM variants WHERE product_id = ?1 AND id = ?2";
constexpr const char* k_insert_reservation =
    "INSERT INTO reservations (checkout_id, product_id, variant_id, quantity)"
    " VALUES (?1, ?2, ?3, ?4)";
constexpr const char* k_reservations =
    "SELECT product_id, variant_id, quantity FROM reservations WHERE checkout_id = ?1"
    " ORDER BY product_id, variant_id";
constexpr const char* k_unreserve =
    "UPDATE variants SET reserved = MAX(0, reserved - ?3) WHERE product_id = ?1 AND id = ?2";
constexpr const char* k_commit_stock =
    "UPDATE variants SET reserved = MAX(0, reserved - ?3), on_hand = MAX(0, on_hand - ?3)"
    " WHERE product_id = ?1 AND id = ?2";
constexpr const char* k_restock =
    "UPDATE variants SET on_hand = on_hand + ?3 WHERE product_id = ?1 AND id = ?2";
constexpr const char* k_drop_reservations = "DELETE FROM reservations WHERE checkout_id = ?1";
constexpr const char* k_due =
    "SELECT id FROM checkout_sessions WHERE status IN ('open', 'processing') AND expires_at <= ?1"
    " ORDER BY expires_at LIMIT ?2";
constexpr const char* k_processing =
    "SELECT doc FROM checkout_sessions WHERE status = 'processing' ORDER BY expires_at LIMIT ?1";
constexpr const char* k_load_cart = "SELECT snapshot, version FROM carts WHERE id = ?1";
constexpr const char* k_update_cart =
    "UPDATE carts SET status = ?2, version = ?3, snapshot = ?4, updated_at = ?5"
    " WHERE id = ?1 AND version = ?6";
constexpr const char* k_use_discount =
    "UPDATE pricing_rules SET used = used + 1 WHERE kind = 'discount' AND id = ?1"
    " AND (?2 < 0 OR used < ?2)";
constexpr const char* k_release_discount =
    "UPDATE pricing_rules SET used = used - 1 WHERE kind = 'discount' AND id = ?1 AND used > 0";
constexpr const char* k_insert_order_discount =
    "INSERT INTO order_discounts (order_id, discount_id) VALUES (?1, ?2)";
constexpr const char* k_order_discounts =
    "SELECT discount_id FROM order_discounts WHERE order_id = ?1";
constexpr const char* k_drop_order_discounts = "DELETE FROM order_discounts WHERE order_id = ?1";
constexpr const char* k_insert_order =
    "INSERT INTO orders (id, order_number, checkout_id, user_id, session_id, status,"
    " payment_status, version, doc, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
    " ON CONFLICT (order_number) DO NOTHING";
constexpr const char* k_order_of_checkout = "SELECT doc FROM orders WHERE checkout_id = ?1";
constexpr const char* k_load_order = "SELECT doc FROM orders WHERE id = ?1";
constexpr const char* k_update_order =
    "UPDATE orders SET status = ?2, payment_status = ?3, version = ?4, doc = ?5"
    " WHERE id = ?1 AND version = ?6";
constexpr const char* k_list_orders =
    "SELECT doc FROM orders WHERE (?1 = 1 OR user_id = ?2 OR session_id = ?3)"
    " AND (?4 = '' OR status = ?4) AND (?5 = '' OR id < ?5) ORDER BY id DESC LIMIT ?6";
constexpr const char* k_to_settle =
    "SELECT doc FROM orders WHERE status = 'cancelled'"
    " AND payment_status IN ('authorized', 'captured') ORDER BY id LIMIT ?1";
constexpr const char* k_to_capture =
    "SELECT doc FROM orders WHERE payment_status = 'authorized' AND status <> 'cancelled'"
    " AND created_at < ?1 ORDER BY id LIMIT ?2";
constexpr const char* k_outbox_insert =
    "INSERT INTO outbox (cart_id, type, payload, created_at) VALUES (?1, ?2, ?3, ?4)";
constexpr const char* k_remember_event =
    "INSERT INTO payment_events (id, received_at) VALUES (?1, ?2) ON CONFLICT (id) DO NOTHING";
constexpr const char* k_ledger_by_key =
    "SELECT id, idempotency_key, reference, amount, currency, status, created_at"
    " FROM payment_ledger WHERE idempotency_key = ?1";
constexpr const char* k_ledger_get =
    "SELECT id, idempotency_key, reference, amount, currency, status, created_at"
    " FROM payment_ledger WHERE id = ?1";
constexpr const char* k_ledger_by_ref =
    "SELECT id, idempotency_key, reference, amount, currency, status, created_at"
    " FROM payment_ledger WHERE reference = ?1 ORDER BY created_at, id";
constexpr const char* k_ledger_insert =
    "INSERT INTO payment_ledger (id, idempotency_key, reference, amount, currency, status,"
    " created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (idempotency_key) DO NOTHING";
constexpr const char* k_ledger_move =
    "UPDATE payment_ledger SET status = ?3 WHERE id = ?1 AND status = ?2";

std::optional<checkout_session> one_session(statement& st) {
  if (!st.step()) return std::nullopt;
  auto s = decode_checkout(st.text(0));
  if (!s) throw store_error("corrupt checkout session");
  return s;
}

std::optional<order_record> one_order(statement& st) {
  if (!st.step()) return std::nullopt;
  auto o = decode_order(st.text(0));
  if (!o) throw store_error("corrupt order");
  return o;
}

void write_session(sqlite::connection& c, const checkout_session& s) {
  statement st(c, k_insert_session);
  st.bind(1, s.id).bind(2, s.cart.value).bind(3, std::string_view(to_string(s.status)));
  st.bind(4, s.expires_at_ms).bind(5, static_cast<std::int64_t>(s.version));
  st.bind(6, encode_checkout(s)).bind(7, s.created_at_ms).run();
}

bool rewrite_session(sqlite::connection& c, const checkout_session& s) {
  statement st(c, k_update_session);
  st.bind(1, s.id).bind(2, std::string_view(to_string(s.status))).bind(3, s.expires_at_ms);
  st.bind(4, static_cast<std::int64_t>(s.version)).bind(5, encode_checkout(s));
  st.bind(6, static_cast<std::int64_t>(s.version - 1)).run();
  return st.changes() == 1;
}

/// Gives the session's reserved units back and forgets the reservations.
void release(sqlite::connection& c, const std::string& checkout_id, const char* how) {
  std::vector<std::tuple<std::string, std::string, std::int64_t>> rows;
  {
    statement st(c, k_reservations);
    st.bind(1, checkout_id);
    while (st.step()) rows.emplace_back(st.text(0), st.text(1), st.integer(2));
  }
  for (const auto& [p, v, q] : rows) {
    statement up(c, how);
    up.bind(1, p).bind(2, v).bind(3, q).run();
  }
  statement drop(c, k_drop_reservations);
  drop.bind(1, checkout_id).run();
}

/// Marks `s` expired and releases its stock; false when another writer moved it first.
bool expire(sqlite::connection& c, checkout_session s, std::int64_t now_ms) {
  s.status = checkout_status::expired;
  s.updated_at_ms = now_ms;
  s.version += 1;
  if (!rewrite_session(c, s)) return false;
  release(c, s.id, k_unreserve);
  return true;
}

ledger_payment ledger_row(statement& st) {
  return ledger_payment{st.text(0), st.text(1), st.text(2), st.integer(3),
                        st.text(4), st.text(5), st.integer(6)};
}

void write_events(sqlite::connection& c, const std::vector<outbox_event>& events,
                  std::int64_t now_ms) {
  for (const auto& e : events) {
    statement ev(c, k_outbox_insert);
    ev.bind(1, e.cart_id).bind(2, e.type).bind(3, e.payload).bind(4, now_ms).run();
  }
}

}  // namespace

open_checkout_result open_checkout(sqlite::connection& c, const checkout_session& s) {
  open_checkout_result out;
  sqlite::transaction tx(c);
  std::vector<checkout_session> live;
  {
    statement st(c, k_live_of_cart);
    st.bind(1, s.cart.value);
    while (auto one = one_session(st)) live.push_back(std::move(*one));
  }
  for (const auto& old : live) {
    if (old.status == checkout_status::processing) {
      out.result = open_checkout_result::outcome::processing_exists;
      return out;  // rolled back: nothing changed
    }
  }
  for (const auto& old : live) {
    if (expire(c, old, s.created_at_ms)) out.replaced.push_back(old.id);
  }
  for (const auto& [key, quantity] : quantities_by_variant(s.lines)) {
    statement r(c, k_reserve);
    r.bind(1, key.first.value).bind(2, key.second.value).bind(3, quantity).run();
    if (r.changes() == 1) {
      statement ins(c, k_insert_reservation);
      ins.bind(1, s.id).bind(2, key.first.value).bind(3, key.second.value).bind(4, quantity).run();
      continue;
    }
    statement a(c, k_available);
    a.bind(1, key.first.value).bind(2, key.second.value);
    std::int64_t available = a.step() ? std::max<std::int64_t>(0, a.integer(0)) : 0;
    out.shortages.push_back(stock_shortage{key.first, key.second, quantity, available});
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

std::optional<checkout_session> load_checkout(sqlite::connection& c, const std::string& id) {
  statement st(c, k_load_session);
  st.bind(1, id);
  return one_session(st);
}

std::optional<checkout_session> active_checkout_of(sqlite::connection& c, const cart_id& cart) {
  statement st(c, k_live_of_cart);
  st.bind(1, cart.value);
  return one_session(st);
}

bool update_checkout(sqlite::connection& c, const checkout_session& s) {
  return rewrite_session(c, s);
}

bool expire_checkout(sqlite::connection& c, const std::string& id, std::int64_t now_ms,
                     bool force) {
  sqlite::transaction tx(c);
  auto s = load_checkout(c, id);
  if (!s || (s->status != checkout_status::open && s->status != checkout_status::processing))
    return false;
  if (!force && s->expires_at_ms > now_ms) return false;
  if (!expire(c, *s, now_ms)) return false;
  tx.commit();
  return true;
}

std::vector<std::string> due_checkouts(sqlite::connection& c, std::int64_t now_ms, int limit) {
  statement st(c, k_due);
  st.bind(1, now_ms).bind(2, static_cast<std::int64_t>(limit));
  std::vector<std::string> out;
  while (st.step()) out.push_back(st.text(0));
  return out;
}

std::vector<checkout_session> processing_checkouts(sqlite::connection& c, int limit) {
  statement st(c, k_processing);
  st.bind(1, static_cast<std::int64_t>(limit));
  std::vector<checkout_session> out;
  while (auto s = one_session(st)) out.push_back(std::move(*s));
  return out;
}

place_order_result place_order(sqlite::connection& c, const place_order_request& r) {
  using outcome = place_order_result::outcome;
  place_order_result out;
  sqlite::transaction tx(c);
  auto s = load_checkout(c, r.order.checkout_id);
  if (!s) return place_order_result{outcome::not_found, {}};
  if (s->status == checkout_status::completed) {
    statement st(c, k_order_of_checkout);
    st.bind(1, s->id);
    if (auto o = one_order(st)) return place_order_result{outcome::already_placed, *o};
  }
  if (s->status == checkout_status::expired || s->status == checkout_status::completed ||
      s->expires_at_ms <= r.now_ms)
    return place_order_result{outcome::expired, {}};
  // The cart: still as the session saw it, then checked out.
  {
    statement st(c, k_load_cart);
    st.bind(1, s->cart.value);
    if (!st.step()) return place_order_result{outcome::cart_changed, {}};
    auto snap = decode_snapshot(st.text(0));
    if (!snap || snap->version != s->cart_version || snap->status != cart_status::active)
      return place_order_result{outcome::cart_changed, {}};
    auto next = *snap;
    next.status = cart_status::checked_out;
    next.version += 1;
    next.updated_at_ms = r.now_ms;
    statement up(c, k_update_cart);
    up.bind(1, next.id.value).bind(2, std::string_view(to_string(next.status)));
    up.bind(3, static_cast<std::int64_t>(next.version)).bind(4, encode_snapshot(next));
    up.bind(5, r.now_ms).bind(6, static_cast<std::int64_t>(snap->version)).run();
    if (up.changes() != 1) return place_order_result{outcome::cart_changed, {}};
  }
  for (const auto& d : r.discounts) {
    statement use(c, k_use_discount);
    use.bind(1, d.id).bind(2, d.limit.value_or(-1)).run();
    if (use.changes() != 1) return place_order_result{outcome::used_up, {}};
    statement mark(c, k_insert_order_discount);
    mark.bind(1, r.order.id).bind(2, d.id).run();
  }
  release(c, s->id, k_commit_stock);
  const auto& o = r.order;
  {
    statement ins(c, k_insert_order);
    ins.bind(1, o.id).bind(2, o.order_number).bind(3, o.checkout_id).bind_opt(4, o.user_id);
    ins.bind_opt(5, o.session_id).bind(6, std::string_view(to_string(o.status)));
    ins.bind(7, std::string_view(to_string(o.payment.status)));
    ins.bind(8, static_cast<std::int64_t>(o.version)).bind(9, encode_order(o));
    ins.bind(10, o.created_at_ms).run();
    // Order numbers are random: one already taken leaves nothing written (the transaction is
    // rolled back) and the caller draws another.
    if (ins.changes() != 1) return place_order_result{outcome::number_taken, {}};
  }
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

std::optional<order_record> load_order(sqlite::connection& c, const std::string& id) {
  statement st(c, k_load_order);
  st.bind(1, id);
  return one_order(st);
}

std::vector<order_record> list_orders(sqlite::connection& c, const order_query& q) {
  statement st(c, k_list_orders);
  st.bind(1, static_cast<std::int64_t>(q.all ? 1 : 0));
  // An empty owner id must match nothing: bind it as a value no row has.
  st.bind(2, q.user_id.empty() ? std::string_view("\x01") : std::string_view(q.user_id));
  st.bind(3, q.session_id.empty() ? std::string_view("\x01") : std::string_view(q.session_id));
  st.bind(4, q.status ? std::string_view(to_string(*q.status)) : std::string_view(""));
  st.bind(5, q.after_id).bind(6, static_cast<std::int64_t>(q.limit));
  std::vector<order_record> out;
  while (auto o = one_order(st)) out.push_back(std::move(*o));
  return out;
}

bool update_order(sqlite::connection& c, const order_record& o, bool restock,
                  const std::vector<outbox_event>& events) {
  sqlite::transaction tx(c);
  statement up(c, k_update_order);
  up.bind(1, o.id).bind(2, std::string_view(to_string(o.status)));
  up.bind(3, std::string_view(to_string(o.payment.status)));
  up.bind(4, static_cast<std::int64_t>(o.version)).bind(5, encode_order(o));
  up.bind(6, static_cast<std::int64_t>(o.version - 1)).run();
  if (up.changes() != 1) return false;
  if (restock) {
    for (const auto& i : o.items) {
      statement rs(c, k_restock);
      rs.bind(1, i.product.value).bind(2, i.variant.value).bind(3, i.quantity).run();
    }
    std::vector<std::string> used;
    {
      statement st(c, k_order_discounts);
      st.bind(1, o.id);
      while (st.step()) used.push_back(st.text(0));
    }
    for (const auto& id : used) {
      statement rel(c, k_release_discount);
      rel.bind(1, id).run();
    }
    statement drop(c, k_drop_order_discounts);
    drop.bind(1, o.id).run();
  }
  write_events(c, events, o.updated_at_ms);
  tx.commit();
  return true;
}

std::vector<order_record> orders_to_capture(sqlite::connection& c, std::int64_t placed_before_ms,
                                            int limit) {
  statement st(c, k_to_capture);
  st.bind(1, placed_before_ms).bind(2, static_cast<std::int64_t>(limit));
  std::vector<order_record> out;
  while (auto o = one_order(st)) out.push_back(std::move(*o));
  return out;
}

std::vector<order_record> orders_to_settle(sqlite::connection& c, int limit) {
  statement st(c, k_to_settle);
  st.bind(1, static_cast<std::int64_t>(limit));
  std::vector<order_record> out;
  while (auto o = one_order(st)) out.push_back(std::move(*o));
  return out;
}

bool remember_event(sqlite::connection& c, const std::string& id, std::int64_t now_ms) {
  statement st(c, k_remember_event);
  st.bind(1, id).bind(2, now_ms).run();
  return st.changes() == 1;
}

std::optional<ledger_payment> ledger_by_key(sqlite::connection& c, const std::string& key) {
  statement st(c, k_ledger_by_key);
  st.bind(1, key);
  if (!st.step()) return std::nullopt;
  return ledger_row(st);
}

ledger_payment ledger_insert(sqlite::connection& c, const ledger_payment& p) {
  {
    statement st(c, k_ledger_insert);
    st.bind(1, p.id).bind(2, p.idempotency_key).bind(3, p.reference).bind(4, p.amount);
    st.bind(5, p.currency).bind(6, p.status).bind(7, p.created_at_ms).run();
  }
  auto stored = ledger_by_key(c, p.idempotency_key);
  if (!stored) throw store_error("payment ledger: insert lost");
  return *stored;
}

std::optional<ledger_payment> ledger_get(sqlite::connection& c, const std::string& id) {
  statement st(c, k_ledger_get);
  st.bind(1, id);
  if (!st.step()) return std::nullopt;
  return ledger_row(st);
}

bool ledger_move(sqlite::connection& c, const std::string& id, const std::string& from,
                 const std::string& to) {
  statement st(c, k_ledger_move);
  st.bind(1, id).bind(2, from).bind(3, to).run();
  return st.changes() == 1;
}

std::vector<ledger_payment> ledger_by_reference(sqlite::connection& c, const std::string& ref) {
  statement st(c, k_ledger_by_ref);
  st.bind(1, ref);
  std::vector<ledger_payment> out;
  while (st.step()) out.push_back(ledger_row(st));
  return out;
}

}  // namespace cartd::sqlite_checkout
