#include "actors/cart_registry.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <unordered_map>

#include "actors/checkout_protocol.hpp"
#include "actors/metrics.hpp"
#include "actors/wire.hpp"
#include "domain/time.hpp"

namespace cartd {

namespace {

/// A live cart actor and when this registry last routed a message to it.
struct live_cart {
  cart_actor actor;
  std::int64_t last_routed_ms = 0;
  /// When the sweep last asked it whether it is idle: asked at most once per idle timeout (a
  /// cart stuck in a long store call would otherwise collect one question per sweep), and
  /// asked again after that (it may have said no: its own clock also counts internal messages).
  std::int64_t asked_idle_ms = 0;
};

struct registry_state {
  cart_deps deps;
  /// What every cart actor of this registry shares (deps, with the registry's own handle).
  std::shared_ptr<const cart_deps> shared_deps;
  std::shared_ptr<const placement> where;
  std::shared_ptr<registry_stats> stats;
  std::unordered_map<std::string, live_cart> carts;
  /// The id of each live cart actor, for its down message: the key of its entry in `carts`
  /// (unordered_map nodes do not move; forget() erases both together).
  std::unordered_map<caf::actor_addr, const std::string*> ids;
};

using self_ptr = cart_registry_actor::stateful_pointer<registry_state>;

void forget(self_ptr self, const std::string& id) {
  auto& st = self->state;
  auto it = st.carts.find(id);
  if (it == st.carts.end()) return;
  st.ids.erase(it->second.actor.address());
  st.carts.erase(it);
  st.stats->live = static_cast<std::int64_t>(st.carts.size());
  st.deps.stats->carts_live.Set(static_cast<double>(st.carts.size()));
}

cart_actor& find_or_spawn(self_ptr self, const cart_id& id) {
  auto& st = self->state;
  auto it = st.carts.find(id.value);
  if (it != st.carts.end()) {
    it->second.last_routed_ms = now_ms();
    return it->second.actor;
  }
  if (!st.shared_deps) {
    auto deps = std::make_shared<cart_deps>(st.deps);
    deps->registry = caf::actor_cast<cart_registry_actor>(self);
    st.shared_deps = std::move(deps);
  }
  auto a = self->spawn(cart_behavior, id, st.shared_deps);
  self->monitor(a);
  auto addr = a.address();
  st.stats->spawned++;
  st.deps.stats->carts_spawned.Increment();
  auto entry = st.carts.emplace(id.value, live_cart{std::move(a), now_ms()}).first;
  st.ids.emplace(std::move(addr), &entry->first);
  auto& slot = entry->second.actor;
  st.stats->live = static_cast<std::int64_t>(st.carts.size());
  st.deps.stats->carts_live.Set(static_cast<double>(st.carts.size()));
  return slot;
}

/// The store changed this cart under its actor: it reloads before its next command. The actor
/// stays (stopping it and spawning another would let the new one load while the old one still
/// commits what was queued for it, and then answer reads from before that commit).
void reload(self_ptr self, const std::string& id) {
  auto& st = self->state;
  auto it = st.carts.find(id);
  if (it == st.carts.end()) return;
  st.deps.stats->cart_mailbox_depth.Increment();
  caf::anon_send(it->second.actor,
                 cart_request{cart_id{id}, {}, std::nullopt, reload_cart{}, nullptr, {}});
}

/// The cart is another node's now: its actor stops after what is queued for it.
void let_go(self_ptr self, const std::string& id) {
  auto& st = self->state;
  auto it = st.carts.find(id);
  if (it == st.carts.end()) return;
  self->send(it->second.actor, passivate_atom::value);
  forget(self, id);
}

/// How often the registry looks for idle carts: a quarter of the idle timeout, between 10 ms
/// and 30 s. A cart goes between idle_timeout and idle_timeout + this after its last message.
std::chrono::milliseconds sweep_period(std::chrono::milliseconds idle) {
  return std::clamp(idle / 4, std::chrono::milliseconds(10), std::chrono::milliseconds(30000));
}

cart_registry_actor::behavior_type registry(self_ptr self, cart_deps deps, std::shared_ptr<const placement> where,
                       std::shared_ptr<registry_stats> stats) {
  self->state.deps = std::move(deps);
  self->state.where = std::move(where);
  self->state.stats = std::move(stats);
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& st = self->state;
    auto it = st.ids.find(dm.source);
    if (it == st.ids.end()) return;  // passivated earlier
    std::string id = *it->second;
    forget(self, id);
    if (dm.reason && dm.reason != caf::exit_reason::user_shutdown) {
      // Failed: the next message for this cart spawns a fresh actor from the last snapshot.
      st.stats->restarted++;
      st.deps.stats->cart_restarts.Increment();
    }
  });
  // One timer for every cart of the node (a timer per cart actor cost ~250 bytes of the clock's
  // per live cart, and a clock operation per cart made): carts the registry has not routed to
  // for the idle timeout are asked whether they are idle; one that is asks to be passivated
  // (the handshake below), so nothing already forwarded to it is lost.
  self->delayed_send(self, sweep_period(self->state.deps.idle_timeout), idle_atom::value);
  self->set_exit_handler([self](caf::exit_msg& em) {
    // Shutdown: the carts are not linked to us (a failing cart must not take the registry
    // down), so stop each of them explicitly.
    for (auto& [id, c] : self->state.carts) self->send_exit(c.actor, em.reason);
    self->quit(em.reason);
  });
  return {
      [self](cart_request& req) -> caf::result<cart_reply> {
        auto& st = self->state;
        // Served whatever placement says: the HTTP side sends here only carts it believes
        // ours, and a peer forwards only carts it believes ours. If membership disagrees, two
        // nodes may hold a cart for a moment; the store's version condition keeps every write.
        bool internal = std::holds_alternative<lend_for_merge>(req.command) ||
                        std::holds_alternative<reload_cart>(req.command);
        bool ours = st.where->owner_of(req.target) == st.where->local_node();
        if (internal && !ours) {
          // A merge on this node touched a cart owned elsewhere: the owner drops its copy, and
          // ours lives only for this message (it would go stale behind the owner's back).
          if (std::holds_alternative<reload_cart>(req.command)) {
            st.where->forget_elsewhere(req.target);
            auto it = st.carts.find(req.target.value);
            if (it == st.carts.end()) return cart_reply::success({});
          }
          auto id = req.target.value;
          auto& target = find_or_spawn(self, req.target);
          auto handle = target;
          st.deps.stats->cart_mailbox_depth.Increment();
          auto res = self->delegate(handle, std::move(req));
          self->send(handle, passivate_atom::value);
          forget(self, id);
          return res;
        }
        auto& target = find_or_spawn(self, req.target);
        st.deps.stats->cart_mailbox_depth.Increment();
        return self->delegate(target, std::move(req));
      },
      [self](evict_atom, const std::string& id) {
        // The store changed this cart under its actor (checkout re-priced it or checked it
        // out): it reloads before its next command. Its owner, when that is another node,
        // reloads too.
        reload(self, id);
        self->state.where->forget_elsewhere(cart_id{id});
      },
      [self](forget_atom, const std::string& id) { reload(self, id); },
      [self](rehome_atom) {
        // Membership changed. Carts now owned elsewhere go; the ones that stay ours reload
        // before their next command: while views disagreed (a partition, a frozen node)
        // another node may have owned and changed them, and a copy from before would answer
        // reads from the past.
        auto& st = self->state;
        std::vector<std::string> gone, stay;
        for (const auto& [id, c] : st.carts)
          (st.where->owner_of(cart_id{id}) != st.where->local_node() ? gone : stay).push_back(id);
        for (const auto& id : gone) let_go(self, id);
        for (const auto& id : stay) reload(self, id);
        if (!gone.empty()) {
          st.stats->rehomed += static_cast<std::int64_t>(gone.size());
          st.deps.stats->carts_rehomed.Increment(static_cast<double>(gone.size()));
        }
      },
      [self](idle_atom) {
        auto& st = self->state;
        auto idle_ms = static_cast<std::int64_t>(st.deps.idle_timeout.count());
        auto now = now_ms();
        for (auto& [id, c] : st.carts) {
          if (now - c.last_routed_ms < idle_ms || now - c.asked_idle_ms < idle_ms) continue;
          c.asked_idle_ms = now;
          self->send(c.actor, idle_atom::value);
        }
        self->delayed_send(self, sweep_period(st.deps.idle_timeout), idle_atom::value);
      },
      [self](passivate_atom, const std::string& id, const caf::actor& who) {
        auto& st = self->state;
        auto it = st.carts.find(id);
        if (it == st.carts.end() || it->second.actor.address() != who.address()) return;
        // Everything this registry forwarded is already in the cart's mailbox, ahead of this.
        self->send(it->second.actor, passivate_atom::value);
        st.stats->passivated++;
        st.deps.stats->carts_passivated.Increment();
        forget(self, id);
      },
  };
}

}  // namespace

cart_registry_actor spawn_cart_registry(caf::actor_system& sys, cart_deps deps,
                               std::shared_ptr<const placement> where,
                               std::shared_ptr<registry_stats> stats) {
  return sys.spawn(registry, std::move(deps), std::move(where), std::move(stats));
}

}  // namespace cartd
