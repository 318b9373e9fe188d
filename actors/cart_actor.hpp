#pragma once
// One actor per live cart. It handles commands strictly one after another: every store call and
// snapshot write is awaited (the mailbox is held), so no later command sees uncommitted state,
// and replies leave in order.
#include <caf/actor.hpp>

#include <chrono>
#include <functional>
#include <memory>

#include "actors/cart_protocol.hpp"

namespace cartd {

class metrics;
class catalog_cache;
class pricing_book;
struct forward_answer;

/// Renders a cart reply as the HTTP answer a spec asks for (the HTTP side provides it).
using forward_renderer = std::function<forward_answer(const render_spec&, const cart_reply&)>;

struct cart_deps {
  cart_registry_actor registry;
  caf::actor store_pool;
  caf::actor writer;
  metrics* stats = nullptr;
  catalog_cache* catalog = nullptr;
  pricing_book* pricing = nullptr;  ///< null: no pricing rules (every code is unknown)
  cart_limits limits;
  std::chrono::milliseconds idle_timeout{300000};
  std::chrono::milliseconds io_timeout{4000};
  bool publish_events = false;  ///< write domain events to the outbox (Redis configured)
  /// Renders an Idempotency-Key answer to store with the change (set once, before the first
  /// request). Null or empty: the front end stores the answer after the reply instead.
  const forward_renderer* render = nullptr;
};

struct cart_actor_state;
/// `deps` is shared by every cart of a registry (one copy per node, not per live cart).
cart_actor::behavior_type cart_behavior(cart_actor::stateful_pointer<cart_actor_state> self,
                                        cart_id id, std::shared_ptr<const cart_deps> deps);

struct cart_actor_state {
  cart_id id;
  // Shared, not a copy per actor: with it the actor object fits tcmalloc's 1 536-byte size
  // class instead of 1 792 (RSS per live cart, bench/run).
  std::shared_ptr<const cart_deps> deps;
  std::optional<cart> current;  ///< the last committed state; nothing when the cart is unknown
  bool loaded = false;
  std::int64_t last_active_ms = 0;
  /// Products of this cart's lines the store did not have when last looked up.
  std::vector<std::string> gone_products;
  /// Answers the command being handled; used to reply before the actor dies of a failure.
  std::function<void(cart_reply)> pending;
};

}  // namespace cartd
