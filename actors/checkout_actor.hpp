#pragma once
// One actor per live checkout session, found or spawned by the node's checkout registry. It
// handles its commands one after another, each store and provider call awaited (the mailbox is
// held), so two `process` calls for one session on this node never interleave; across nodes
// the store's conditional writes decide (one order per session, stock released once). It fires
// its own expiry; the reconciler (actors/checkout_reconciler.cpp) expires what no live actor
// watches (after a restart, on another node) and settles payments left without an order.
#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <string>

#include "actors/cart_protocol.hpp"
#include "domain/price_engine.hpp"

namespace cartd {

class metrics;
class pricing_book;
class catalog_cache;
class payment_gateway;

struct checkout_stats {
  std::atomic<std::int64_t> live{0};
  std::atomic<std::int64_t> spawned{0};
  std::atomic<std::int64_t> started{0};
  std::atomic<std::int64_t> completed{0};
  std::atomic<std::int64_t> expired{0};
  std::atomic<std::int64_t> declined{0};
};

struct checkout_deps {
  caf::actor store_pool;
  cart_registry_actor carts;  ///< the cart registry: told to reload a cart checkout changed
  metrics* stats = nullptr;
  checkout_stats* figures = nullptr;
  pricing_book* pricing = nullptr;
  catalog_cache* catalog = nullptr;  ///< the node's product cache: dropped when stock moves
  payment_gateway* payments = nullptr;
  /// Renders locked totals as API.md's Totals JSON (the HTTP side's writer, injected).
  std::function<std::string(const priced_totals&)> render_totals;
  std::chrono::milliseconds session_ttl{15 * 60 * 1000};
  std::chrono::milliseconds io_timeout{4000};
  std::chrono::milliseconds idle_timeout{5 * 60 * 1000};
  bool publish_events = false;
  bool crash_after_authorize = false;  ///< a test's fault points (config testing.*)
  bool crash_after_order = false;
};

/// The registry: forwards checkout_open / checkout_get / checkout_process / checkout_confirm
/// (actors/checkout_protocol.hpp) to the session's actor and answers with its checkout_reply.
caf::actor spawn_checkout_registry(caf::actor_system& sys, checkout_deps deps);

}  // namespace cartd
