#pragma once
// The cart registry of a node (its shard region): finds or spawns the actor of a cart, which
// loads the last snapshot itself; monitors its carts, counts restarts, and forgets passivated
// ones. A failed cart is restarted from its last committed snapshot on its next message.
#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include <atomic>
#include <memory>

#include "actors/cart_actor.hpp"
#include "actors/placement.hpp"

namespace cartd {

struct registry_stats {
  std::atomic<std::int64_t> live{0};
  std::atomic<std::int64_t> spawned{0};
  std::atomic<std::int64_t> passivated{0};
  std::atomic<std::int64_t> restarted{0};
  std::atomic<std::int64_t> rehomed{0};  ///< let go because membership moved them elsewhere
};

/// `deps.registry` is filled in by the registry itself.
cart_registry_actor spawn_cart_registry(caf::actor_system& sys, cart_deps deps,
                               std::shared_ptr<const placement> where,
                               std::shared_ptr<registry_stats> stats);

}  // namespace cartd
