#pragma once
// Blocking store calls run only here: a pool of detached actors, each taking one job at a time.
// A job is a closure over the store; its result travels back in the closure's own state.
#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/event_based_actor.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "persistence/store.hpp"

namespace cartd {

class metrics;

struct store_job {
  std::function<void(store&)> run;
};

/// Spawns `workers` detached actors behind one round-robin pool handle.
caf::actor spawn_store_pool(caf::actor_system& sys, store& s, metrics& m, int workers);

/// Runs `fn(store&) -> T` on the pool; then `k(std::optional<T>)` on `self` (nothing on failure
/// or timeout). `await` holds the caller's mailbox until the answer (cart actors need that).
template <class T, class Self, class Fn, class K>
void call_store(Self* self, const caf::actor& pool, std::chrono::milliseconds timeout, bool await,
                Fn fn, K k) {
  auto out = std::make_shared<std::optional<T>>();
  store_job job{[out, fn = std::move(fn)](store& s) { out->emplace(fn(s)); }};
  auto on_ok = [out, k](bool done) mutable { k(done ? std::move(*out) : std::optional<T>{}); };
  auto on_err = [k](caf::error&) mutable { k(std::optional<T>{}); };
  auto handle = self->request(pool, timeout, std::move(job));
  if (await)
    handle.await(std::move(on_ok), std::move(on_err));
  else
    handle.then(std::move(on_ok), std::move(on_err));
}

}  // namespace cartd

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(cartd::store_job)
