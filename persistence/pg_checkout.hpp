#pragma once
// The checkout, order and payment-ledger part of the PostgreSQL store (persistence/store.hpp
// says what each does); pg_store.cpp hands each call a connection of its pool. The same
// behaviour as persistence/sqlite_checkout.cpp; where SQLite serialises writers (BEGIN
// IMMEDIATE), these take row locks (FOR UPDATE) so that several nodes can share one database.
#include <optional>
#include <string>
#include <vector>

#include "persistence/pg_db.hpp"
#include "persistence/store.hpp"

namespace cartd::pg_checkout {

open_checkout_result open_checkout(pg::connection& c, const checkout_session& s);
std::optional<checkout_session> load_checkout(pg::connection& c, const std::string& id);
std::optional<checkout_session> active_checkout_of(pg::connection& c, const cart_id& cart);
bool update_checkout(pg::connection& c, const checkout_session& s);
bool expire_checkout(pg::connection& c, const std::string& id, std::int64_t now_ms, bool force);
std::vector<std::string> due_checkouts(pg::connection& c, std::int64_t now_ms, int limit);
std::vector<checkout_session> processing_checkouts(pg::connection& c, int limit);
place_order_result place_order(pg::connection& c, const place_order_request& r);
std::optional<order_record> load_order(pg::connection& c, const std::string& id);
std::vector<order_record> list_orders(pg::connection& c, const order_query& q);
bool update_order(pg::connection& c, const order_record& o, bool restock,
                  const std::vector<outbox_event>& events);
std::vector<order_record> orders_to_settle(pg::connection& c, int limit);
std::vector<order_record> orders_to_capture(pg::connection& c, std::int64_t placed_before_ms,
                                            int limit);

std::optional<ledger_payment> ledger_by_key(pg::connection& c, const std::string& key);
ledger_payment ledger_insert(pg::connection& c, const ledger_payment& p);
std::optional<ledger_payment> ledger_get(pg::connection& c, const std::string& id);
bool ledger_move(pg::connection& c, const std::string& id, const std::string& from,
                 const std::string& to);
std::vector<ledger_payment> ledger_by_reference(pg::connection& c, const std::string& ref);

}  // namespace cartd::pg_checkout
