#pragma once
// Shared by actors/checkout_actor.cpp (the session's life) and actors/checkout_payment.cpp
// (paying and placing the order). Not for other files.
#include <caf/all.hpp>

#include <functional>
#include <optional>
#include <string>

#include "actors/checkout_actor.hpp"
#include "actors/catalog_cache.hpp"
#include "actors/checkout_protocol.hpp"
#include "actors/store_pool.hpp"
#include "persistence/store.hpp"

namespace cartd {

struct checkout_state {
  std::string id;
  checkout_deps deps;
  std::int64_t last_active_ms = 0;
  bool expiry_armed = false;
  /// The checkout registry: the expiry timer goes through it (see arm_expiry).
  caf::actor registry;
};

using checkout_self = caf::stateful_actor<checkout_state>*;
using reply_fn = std::function<void(checkout_reply)>;

/// A store call whose answer the actor waits for (mailbox held); nothing on failure.
template <class T, class Fn, class K>
void checkout_io(checkout_self self, Fn fn, K k) {
  call_store<T>(self, self->state.deps.store_pool, self->state.deps.io_timeout, true,
                std::move(fn), std::move(k));
}

inline checkout_reply store_down() {
  return checkout_reply::fail(make_error(error_code::unavailable, "store unavailable"));
}

/// Drops the node's cached copies of the products of `lines` (their stock just moved), so that
/// add-item on this node sees the change at once rather than within catalog.cache_ttl.
template <class Lines>
void forget_products(catalog_cache* catalog, const Lines& lines) {
  if (!catalog) return;
  for (const auto& l : lines) catalog->invalidate(l.product);
}

/// Arms the session's own expiry once (the reconciler catches the rest).
void arm_expiry(checkout_self self, const checkout_session& s);

void process_payment(checkout_self self, checkout_process cmd, reply_fn done);
void confirm_payment(checkout_self self, checkout_confirm cmd, reply_fn done);

}  // namespace cartd
