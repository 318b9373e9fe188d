#pragma once
// The checkout, order and payment-ledger part of the SQLite store (persistence/store.hpp says
// what each does); sqlite_store.cpp hands each call a connection of its pool.
#include <string>
#include <vector>

#include "persistence/sqlite_db.hpp"
#include "persistence/store.hpp"

namespace cartd::sqlite_checkout {

open_checkout_result open_checkout(sqlite::connection& c, const checkout_session& s);
std::optional<checkout_session> load_checkout(sqlite::connection& c, const std::string& id);
std::optional<checkout_session> active_checkout_of(sqlite::connection& c, const cart_id& cart);
bool update_checkout(sqlite::connection& c, const checkout_session& s);
bool expire_checkout(sqlite::connection& c, const std::string& id, std::int64_t now_ms, bool force);
std::vector<std::string> due_checkouts(sqlite::connection& c, std::int64_t now_ms, int limit);
std::vector<checkout_session> processing_checkouts(sqlite::connection& c, int limit);
place_order_result place_order(sqlite::connection& c, const place_order_request& r);
std::optional<order_record> load_order(sqlite::connection& c, const std::string& id);
std::vector<order_record> list_orders(sqlite::connection& c, const order_query& q);
bool update_order(sqlite::connection& c, const order_record& o, bool restock,
                  const std::vector<outbox_event>& events);
std::vector<order_record> orders_to_settle(sqlite::connection& c, int limit);
std::vector<order_record> orders_to_capture(sqlite::connection& c, std::int64_t placed_before_ms,
                                            int limit);

bool remember_event(sqlite::connection& c, const std::string& id, std::int64_t now_ms);
std::optional<ledger_payment> ledger_by_key(sqlite::connection& c, const std::string& key);
ledger_payment ledger_insert(sqlite::connection& c, const ledger_payment& p);
std::optional<ledger_payment> ledger_get(sqlite::connection& c, const std::string& id);
bool ledger_move(sqlite::connection& c, const std::string& id, const std::string& from,
                 const std::string& to);
std::vector<ledger_payment> ledger_by_reference(sqlite::connection& c, const std::string& ref);

}  // namespace cartd::sqlite_checkout
