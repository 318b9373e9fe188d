#pragma once
// The store interface: every byte cartd keeps goes through it. SQLite (embedded default) and
// PostgreSQL implement it; tests/integration/store_contract_test.cpp is the contract both pass.
// Calls block: run them only on detached actors or dedicated threads. Failures throw store_error.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "domain/cart.hpp"
#include "domain/catalog.hpp"
#include "domain/identity.hpp"
#include "domain/session.hpp"
#include "persistence/bounded_pool.hpp"
#include "persistence/checkout_records.hpp"

namespace cartd {

struct store_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// One cart snapshot to write, conditional on the version the writer last saw (0: must be new).
struct cart_write {
  cart snapshot;
  std::uint64_t expected_version = 0;
};

/// A response kept for Idempotency-Key replay.
struct stored_response {
  int status = 0;
  std::string content_type;
  std::string etag;
  std::string body;
  std::string location;  ///< the Location of a 201; empty: none
};

/// Where a keyset-paged list (newest first) goes on: after this row.
struct page_key {
  int group = 0;  ///< carts: 0 active, 1 any other status (active carts come first)
  std::int64_t created_at_ms = 0;
  std::string id;
};

/// Active products, newest first, whose name contains `name_contains` (any case; ASCII case
/// folding on SQLite).
struct product_query {
  std::string name_contains;
  int limit = 20;
  std::optional<page_key> after;
};

/// The answer of an Idempotency-Key request, stored by the same transaction as the change it
/// reports: a change is never committed without it, so a retry can never do the work twice.
struct idempotency_completion {
  std::string scope;
  std::string key;
  stored_response response;
};

/// A domain event (cart_created, item_added, …) written to the outbox by the transaction that
/// commits the change it reports; a relay publishes it later (at least once, in order per cart).
struct outbox_event {
  std::string cart_id;
  std::string type;
  std::string payload;  ///< JSON
};

/// The one transaction that turns a session into its order (DESIGN.md, Checkout).
struct place_order_request {
  order_record order;
  std::vector<discount_use> discounts;
  std::vector<outbox_event> events;  ///< written with the order
  std::int64_t now_ms = 0;
};

/// An event waiting in the outbox, with its id (increasing per cart in commit order).
struct outbox_row {
  std::int64_t id = 0;
  outbox_event event;
};

/// Writes that commit together or not at all (a merge writes two carts as one unit).
struct write_unit {
  std::vector<cart_write> writes;
  std::optional<idempotency_completion> completes;
  std::vector<outbox_event> events;
};

enum class write_status { committed, conflict };

/// Who asks to claim an Idempotency-Key, and how long claims live.
struct idempotency_request {
  std::string scope;
  std::string key;
  std::string fingerprint;  ///< hash of method, path and body
  std::string node;         ///< the claiming node
  std::string boot;         ///< the claiming process (a new one each start)
  std::int64_t now_ms = 0;
  std::int64_t ttl_ms = 0;
  std::int64_t stale_after_ms = 0;
};

struct idempotency_claim {
  enum class state { claimed, in_progress, replay, reused } outcome = state::claimed;
  stored_response response;  ///< set for replay
};

/// A pricing rule (kind "tax", "shipping" or "discount") as a JSON body the pricing codec
/// reads; `code` is unique per kind (discount codes, lower-cased).
struct pricing_rule {
  std::string kind;
  std::string id;
  std::string code;  ///< empty: none
  std::string body;
  std::int64_t seq = 0;   ///< creation order
  std::int64_t used = 0;  ///< orders that used it (discounts)
};

/// What one step of the cart lifecycle sweep saw and did.
struct lifecycle_step {
  std::string last_id;  ///< the last cart looked at: where the next step goes on
  int scanned = 0;      ///< carts looked at (fewer than the limit: the end was reached)
  int idle = 0;         ///< active carts abandoned among them (reported now or before)
  int reported = 0;     ///< idle spells reported by this step
  int purged = 0;       ///< carts deleted by this step
};

class store {
 public:
  virtual ~store() = default;
  virtual std::string kind() const = 0;
  /// Applies the numbered migrations not applied yet; returns how many were applied.
  virtual int migrate() = 0;
  virtual void ping() = 0;
  /// The connection pools behind this store (and its cache), for health and metrics.
  virtual std::vector<pool_figures> pools() const = 0;

  virtual std::optional<cart> load_cart(const cart_id& id) = 0;
  /// All units in one transaction; a unit whose version condition fails is rolled back alone.
  virtual std::vector<write_status> commit(const std::vector<write_unit>& units) = 0;
  /// The carts of a user or a session (not deleted): active first, each group newest first,
  /// at most `limit + 1` (one more than a page: the caller knows there is a next page).
  virtual std::vector<cart> list_carts(const principal& owner, int limit,
                                       const std::optional<page_key>& after) = 0;
  /// The active carts of a user or a session (as list_carts finds them), counted up to `cap`.
  virtual int count_active_carts(const principal& owner, int cap) = 0;

  /// Inserts or replaces a product and its variants (keeping reservations); true when new.
  virtual bool upsert_product(const product& p) = 0;
  virtual std::optional<product> get_product(const product_id& id) = 0;
  /// At most `q.limit + 1` products (see list_carts), with their variants.
  virtual std::vector<product> list_products(const product_query& q) = 0;

  /// Inserts a session; with `completes`, the Idempotency-Key answer of the request commits with
  /// it (a crash can never leave the session without it, so a retry cannot make a second).
  virtual void create_session(const session& s,
                              const idempotency_completion* completes = nullptr) = 0;
  virtual std::optional<session> find_session(const std::string& id) = 0;
  virtual std::optional<session> find_session_by_token(const std::string& token_hash) = 0;
  virtual void update_session(const session& s) = 0;
  virtual bool delete_session(const std::string& id) = 0;

  /// Claims (scope, key) for a request, or says why it cannot: a replay of the stored
  /// response, a key still in use, or a key reused with another request. An unfinished claim
  /// of an earlier process of the same node, or one older than `stale_after_ms`, was abandoned
  /// by a process that died; its change never committed (completions commit with the change),
  /// so it is taken over.
  virtual idempotency_claim claim_idempotency_key(const idempotency_request& r) = 0;
  virtual void complete_idempotency_key(const std::string& scope, const std::string& key,
                                        const stored_response& response) = 0;
  /// Forgets a claim whose request ended in a 5xx, so the client may retry with the same key;
  /// a claim whose change committed its answer (a late commit after a timed-out 503) is kept,
  /// so the retry replays that answer instead of doing the change again.
  virtual void release_idempotency_key(const std::string& scope, const std::string& key) = 0;

  /// The oldest events in the outbox, oldest first.
  virtual std::vector<outbox_row> fetch_outbox(int limit) = 0;
  /// Removes published events.
  virtual void delete_outbox(const std::vector<std::int64_t>& ids) = 0;
  /// Inserts or replaces a rule (keeping its creation order); true when new. With `completes`,
  /// the Idempotency-Key answer commits with it, as for sessions.
  virtual bool put_pricing_rule(const pricing_rule& r,
                                const idempotency_completion* completes = nullptr) = 0;
  virtual std::vector<pricing_rule> list_pricing_rules(const std::string& kind) = 0;
  /// Replaces a rule's code and body only while its stored body is still `expected_body` (a
  /// read-modify-write that loses no concurrent change, on any node): false when it changed
  /// or is gone.
  virtual bool replace_pricing_rule(const pricing_rule& r, const std::string& expected_body) = 0;
  virtual bool delete_pricing_rule(const std::string& kind, const std::string& id) = 0;
  /// Counts one use of a discount, atomically and only while `used < limit` (no limit: always):
  /// true when counted, false when used up or unknown. Two orders racing for the last use of a
  /// code: exactly one is counted, on every node. Checkout calls it as it places an order.
  virtual bool count_discount_use(const std::string& id, std::optional<std::int64_t> limit) = 0;
  /// Gives one counted use back (an order that failed or was cancelled); never below 0.
  virtual bool release_discount_use(const std::string& id) = 0;

  /// One step of the cart lifecycle sweep (DESIGN.md) over at most `limit` carts in id order
  /// after `after_id` (empty: from the first), in one transaction. No index on the time of the
  /// last change is needed (every write moves it): the sweeper pages through the carts by key.
  /// Carts of any status unchanged since before `expire_before_ms` are deleted. Active carts
  /// unchanged since before `idle_before_ms` are abandoned: counted, and each idle spell not
  /// yet reported is marked and, with `with_events`, gets a `cart_abandoned` event in the
  /// outbox. Several nodes may sweep at once: a spell is reported once; a change starts a new one.
  virtual lifecycle_step sweep_carts(const std::string& after_id, int limit,
                                     std::int64_t idle_before_ms, std::int64_t expire_before_ms,
                                     bool with_events, std::int64_t now_ms) = 0;

  // --- Checkout, orders, payments (persistence/*_checkout.cpp) ---
  /// One transaction: refuses when the cart has a `processing` session; expires the cart's
  /// open sessions and releases their reservations; reserves every line, all or nothing, one
  /// conditional update per variant (`reserved + q <= on_hand`, so the database arbitrates
  /// between nodes); inserts `s` with its reservations. Nothing changes unless `opened`.
  virtual open_checkout_result open_checkout(const checkout_session& s) = 0;
  virtual std::optional<checkout_session> load_checkout(const std::string& id) = 0;
  /// The cart's session that is open or processing, if any.
  virtual std::optional<checkout_session> active_checkout_of(const cart_id& cart) = 0;
  /// Writes `s` over the stored row only while its version is still `s.version - 1`.
  virtual bool update_checkout(const checkout_session& s) = 0;
  /// Expires `id` if it is open or processing and due at `now_ms` (always, with `force`),
  /// releasing its reservations in the same transaction: true only for the call that did it,
  /// so however many sweepers or nodes look, the stock is released exactly once.
  virtual bool expire_checkout(const std::string& id, std::int64_t now_ms, bool force) = 0;
  /// Ids of open or processing sessions due at `now_ms` (at most `limit`).
  virtual std::vector<std::string> due_checkouts(std::int64_t now_ms, int limit) = 0;
  /// Sessions that are processing (a payment in flight or unconfirmed): for reconciliation.
  virtual std::vector<checkout_session> processing_checkouts(int limit) = 0;
  /// One transaction: the session must be open or processing and not due; the cart still at
  /// the session's cart version (it becomes checked_out); every discount use counted within
  /// its limit; the reservations committed (on hand and reserved both drop); the order inserted
  /// (one per session: a second attempt finds the first); the session completed; the events
  /// written. Nothing changes unless `placed`.
  virtual place_order_result place_order(const place_order_request& r) = 0;
  virtual std::optional<order_record> load_order(const std::string& id) = 0;
  /// Newest first, at most `q.limit`.
  virtual std::vector<order_record> list_orders(const order_query& q) = 0;
  /// Writes `o` over the stored row only while its version is still `o.version - 1`. With
  /// `restock`, the items' quantities go back on hand and the order's discount uses are
  /// given back, in the same transaction (a cancel: the version condition makes it once).
  virtual bool update_order(const order_record& o, bool restock,
                            const std::vector<outbox_event>& events) = 0;
  /// Orders cancelled whose payment is still authorized or captured (a void or refund that
  /// did not finish), for reconciliation.
  virtual std::vector<order_record> orders_to_settle(int limit) = 0;
  /// Orders not cancelled whose payment is still only authorized, placed before
  /// `placed_before_ms` (a capture that failed after the order was made), for reconciliation.
  virtual std::vector<order_record> orders_to_capture(std::int64_t placed_before_ms, int limit) = 0;

  /// Give-backs (voids, refunds) of payments that made no order: written before the provider
  /// is asked, forgotten once it answered, so reconciliation retries one that failed or was cut
  /// short by a crash. Remembering the same payment twice keeps one.
  virtual void remember_give_back(const payment_give_back& g) = 0;
  virtual std::vector<payment_give_back> give_backs_due(std::int64_t created_before_ms,
                                                        int limit) = 0;
  virtual void forget_give_back(const std::string& payment_id) = 0;

  /// Records a payment webhook event id; true the first time it is seen (dedup).
  virtual bool remember_event(const std::string& id, std::int64_t now_ms) = 0;

  // The simulated provider's ledger.
  virtual std::optional<ledger_payment> ledger_by_key(const std::string& idempotency_key) = 0;
  /// Inserts `p` unless its key exists; returns the stored payment either way.
  virtual ledger_payment ledger_insert(const ledger_payment& p) = 0;
  virtual std::optional<ledger_payment> ledger_get(const std::string& id) = 0;
  /// Moves payment `id` from `from` to `to`; false when it was not in `from`.
  virtual bool ledger_move(const std::string& id, const std::string& from, const std::string& to) = 0;
  virtual std::vector<ledger_payment> ledger_by_reference(const std::string& reference) = 0;

  /// True while this process is the one relay of the outbox (several nodes may share a store;
  /// one relay keeps events in order per cart). Held until the process or its connection ends.
  virtual bool hold_relay_lease() = 0;
};

struct store_options {
  int pool_size = 8;                         ///< PostgreSQL connections
  std::chrono::milliseconds pool_wait{2000};  ///< longest wait for a free connection
};

/// Opens the store named by a URL (`sqlite://path` or `postgresql://…`); throws store_error
/// for an unknown scheme.
std::unique_ptr<store> open_store(const std::string& url, const store_options& opts = {});

}  // namespace cartd
