#include "actors/cluster.hpp"

#include <caf/all.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "actors/cart_protocol.hpp"
#include "actors/checkout_protocol.hpp"
#include "actors/metrics.hpp"
#include "actors/wire.hpp"
#include "config/config.hpp"
#include "domain/time.hpp"

namespace cartd {

namespace {

std::uint64_t fnv1a(const std::string& s, std::uint64_t h = 1469598103934665603ULL) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

std::uint64_t mix(std::uint64_t x) {  // splitmix64's finalizer: spreads FNV's weak low bits
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

std::string rendezvous_owner(const std::vector<std::string>& live, const std::string& key) {
  std::string best;
  std::uint64_t best_score = 0;
  for (const auto& m : live) {
    auto score = mix(fnv1a(key, fnv1a(m) ^ 0x9e3779b97f4a7c15ULL));
    if (best.empty() || score > best_score || (score == best_score && m < best)) {
      best = m;
      best_score = score;
    }
  }
  return best;
}

cluster_view::cluster_view(std::string self, metrics& m) : self_(std::move(self)) {
  auto s = std::make_shared<snapshot>();
  s->live.push_back(self_);
  snap_ = std::move(s);
  auto& r = *m.registry();
  auto& fwd = prometheus::BuildCounter()
                  .Name("cartd_cluster_forwarded_total")
                  .Help("Cart requests this node forwarded to their owner, by outcome")
                  .Register(r);
  forwarded_ok_ = &fwd.Add({{"outcome", "answered"}});
  forwarded_failed_ = &fwd.Add({{"outcome", "timeout"}});
  forward_seconds_ = &prometheus::BuildHistogram()
                          .Name("cartd_cluster_forward_seconds")
                          .Help("Round trip of a forwarded cart request, as the arriving node saw it")
                          .Register(r)
                          .Add({}, prometheus::Histogram::BucketBoundaries{
                                       0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                       0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5});
}

void cluster_view::observe_forward(std::chrono::steady_clock::duration took, bool ok) {
  (ok ? stats_.forwarded : stats_.forward_failures)++;
  (ok ? forwarded_ok_ : forwarded_failed_)->Increment();
  forward_seconds_->Observe(std::chrono::duration<double>(took).count());
}

std::shared_ptr<const cluster_view::snapshot> cluster_view::current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return snap_;
}

std::string cluster_view::owner_of(const cart_id& id) const {
  auto s = current();
  if (s->live.empty()) return self_;  // leaving, and no one else is live: still ours
  if (s->live.size() == 1) return s->live.front();
  return rendezvous_owner(s->live, id.value);
}

caf::actor cluster_view::face_of(const std::string& address) const {
  auto s = current();
  for (const auto& m : s->all)
    if (m.up && m.address == address) return m.face;
  return {};
}

std::vector<cluster_view::member> cluster_view::members() const { return current()->all; }

void cluster_view::publish(std::vector<member> others) {
  auto s = std::make_shared<snapshot>();
  if (!leaving_) s->live.push_back(self_);
  for (const auto& m : others)
    if (m.up) s->live.push_back(m.address);
  std::sort(s->live.begin(), s->live.end());
  s->all = std::move(others);
  std::lock_guard<std::mutex> lock(mu_);
  snap_ = std::move(s);
}

void cluster_view::forget_elsewhere(const cart_id& id) const {
  auto owner = owner_of(id);
  if (owner == self_) return;
  if (auto face = face_of(owner)) caf::anon_send(face, forget_atom::value, id.value);
}

namespace {

using join_atom = caf::atom_constant<caf::atom("joinby")>;
using steady = std::chrono::steady_clock;

struct peer {
  std::string address;
  std::uint64_t incarnation = 0;
  /// The incarnation that said it is leaving (draining to stop): not live again until a newer
  /// incarnation greets us.
  std::uint64_t left_incarnation = 0;
  bool up = false;
  bool connecting = false;
  caf::actor face;
  std::int64_t since_ms = 0;
  std::chrono::milliseconds backoff{100};
  steady::time_point next_attempt{};
};

struct face_metrics {
  prometheus::Gauge& members_up;
  prometheus::Gauge& members_down;
  prometheus::Gauge& joined;
  prometheus::Counter& member_changes;
  prometheus::Counter& served_for_others;
};

struct face_state {
  cluster_settings cfg;
  std::shared_ptr<cluster_view> view;
  cart_registry_actor registry;
  const forward_renderer* render = nullptr;  ///< the node's (node_runtime owns it)
  caf::actor checkouts;  ///< null when checkout is not running
  checkout_renderer render_checkout;
  std::unique_ptr<face_metrics> stats;
  std::map<std::string, peer> peers;
};

using face_ptr = caf::stateful_actor<face_state>*;

constexpr std::chrono::milliseconds k_max_backoff{5000};

member_info self_info(face_ptr self) {
  return {self->state.cfg.node, self->state.cfg.incarnation};
}

void publish_view(face_ptr self) {
  auto& st = self->state;
  std::vector<cluster_view::member> others;
  std::int64_t up = 0;
  for (const auto& [addr, p] : st.peers) {
    others.push_back({addr, p.incarnation, p.up, p.up ? p.face : caf::actor{}, p.since_ms});
    up += p.up ? 1 : 0;
  }
  st.view->publish(std::move(others));
  st.view->stats().member_changes++;
  st.stats->member_changes.Increment();
  st.stats->members_up.Set(static_cast<double>(up + 1));
  st.stats->members_down.Set(static_cast<double>(st.peers.size() - up));
  // Carts that are no longer ours go: their new owner loads the last committed state.
  caf::anon_send(st.registry, rehome_atom::value);
}

void mark_joined(face_ptr self, const char* how) {
  auto& st = self->state;
  if (st.view->joined()) return;
  st.view->set_joined();
  st.stats->joined.Set(1);
  spdlog::info(R"({{"msg":"cluster joined","node":"{}","how":"{}","members":{}}})", st.cfg.node,
               how, st.view->members().size() + 1);
}

void connect(face_ptr self, const std::string& address);

/// A member heard of, directly (`face` set: it answered us or greeted us) or through gossip.
void learn(face_ptr self, const member_info& mi, const caf::actor& face) {
  auto& st = self->state;
  if (mi.address.empty() || mi.address == st.cfg.node) return;
  auto [it, fresh] = st.peers.try_emplace(mi.address);
  auto& p = it->second;
  if (fresh) {
    p.address = mi.address;
    p.next_attempt = steady::now();
  }
  if (face) {
    bool newer = mi.incarnation >= p.incarnation;
    if (!newer) return;  // a late answer of an earlier incarnation
    if (p.left_incarnation != 0 && mi.incarnation <= p.left_incarnation) {
      // It said it is leaving: not live again until a newer incarnation (it restarted).
      p.connecting = false;
      p.next_attempt = steady::now() + p.backoff;
      return;
    }
    if (p.up && p.face == face && p.incarnation == mi.incarnation) return;
    if (p.face && p.face != face) self->demonitor(p.face);
    p.face = face;
    p.incarnation = mi.incarnation;
    p.up = true;
    p.connecting = false;
    p.backoff = std::chrono::milliseconds{100};
    p.since_ms = now_ms();
    self->monitor(face);
    spdlog::info(R"({{"msg":"cluster member up","node":"{}","member":"{}","incarnation":{}}})",
                 st.cfg.node, mi.address, mi.incarnation);
    publish_view(self);
    mark_joined(self, "member");
    return;
  }
  if (!p.up && !p.connecting && steady::now() >= p.next_attempt) connect(self, mi.address);
}

void failed(face_ptr self, const std::string& address) {
  auto& p = self->state.peers[address];
  p.connecting = false;
  p.backoff = std::min(p.backoff * 2, k_max_backoff);
  p.next_attempt = steady::now() + p.backoff;
}

void connect(face_ptr self, const std::string& address) {
  std::string host;
  std::uint16_t port = 0;
  if (!split_host_port(address, host, port)) return;
  auto& p = self->state.peers[address];
  p.address = address;
  p.connecting = true;
  auto timeout = self->state.cfg.connect_timeout;
  // The middleman actor, never the blocking remote_actor(): its connect and handshake have no
  // timeout of their own (NOTES.md), so the request carries one.
  auto mm = self->state.cfg.tls ? self->home_system().openssl_manager().actor_handle()
                                : self->home_system().middleman().actor_handle();
  self->request(mm, timeout, caf::connect_atom::value, host, port)
      .then(
          [self, address, timeout](const caf::node_id&, caf::strong_actor_ptr& ptr,
                                   const std::set<std::string>&) {
            if (!ptr) return failed(self, address);
            auto face = caf::actor_cast<caf::actor>(ptr);
            self->request(face, timeout, hello_atom::value, self_info(self))
                .then(
                    [self, address, face](std::vector<member_info>& known) {
                      std::uint64_t inc = 0;
                      for (const auto& mi : known)
                        if (mi.address == address) inc = mi.incarnation;
                      learn(self, member_info{address, inc}, face);
                      for (const auto& mi : known) learn(self, mi, caf::actor{});
                    },
                    [self, address](caf::error&) { failed(self, address); });
          },
          [self, address](caf::error&) { failed(self, address); });
}

std::vector<member_info> known_members(face_ptr self) {
  std::vector<member_info> out{self_info(self)};
  for (const auto& [addr, p] : self->state.peers)
    if (p.up) out.push_back({addr, p.incarnation});
  return out;
}

void tick(face_ptr self) {
  auto& st = self->state;
  auto now = steady::now();
  for (auto& [addr, p] : st.peers) {
    if (p.up) {
      // Gossip: ask what it knows; addresses only, each connected to directly.
      self->request(p.face, st.cfg.connect_timeout, hello_atom::value, self_info(self))
          .then(
              [self](std::vector<member_info>& known) {
                for (const auto& mi : known) learn(self, mi, caf::actor{});
              },
              [](caf::error&) {
                // A lost member shows as a down_msg (monitor), not here.
              });
    } else if (!p.connecting && now >= p.next_attempt) {
      connect(self, addr);  // a leaving member that restarted answers with a newer incarnation
    }
  }
}

caf::behavior face(face_ptr self, cluster_settings cfg, std::shared_ptr<cluster_view> view,
                   cart_registry_actor registry, const forward_renderer* renderer,
                   caf::actor checkouts, checkout_renderer render_checkout, metrics* m) {
  auto& init = self->state;
  init.cfg = std::move(cfg);
  init.view = std::move(view);
  init.registry = std::move(registry);
  init.render = renderer;
  init.checkouts = std::move(checkouts);
  init.render_checkout = std::move(render_checkout);
  auto& prom = *m->registry();
  auto& members = prometheus::BuildGauge()
                      .Name("cartd_cluster_members")
                      .Help("Cluster members as this node sees them, itself included, by state")
                      .Register(prom);
  init.stats = std::make_unique<face_metrics>(face_metrics{
      members.Add({{"state", "up"}}), members.Add({{"state", "down"}}),
      prometheus::BuildGauge()
          .Name("cartd_cluster_joined")
          .Help("1 once this node joined its cluster (or found no seed within the join timeout)")
          .Register(prom)
          .Add({}),
      prometheus::BuildCounter()
          .Name("cartd_cluster_membership_changes_total")
          .Help("Changes of the live membership this node saw")
          .Register(prom)
          .Add({}),
      prometheus::BuildCounter()
          .Name("cartd_cluster_served_for_others_total")
          .Help("Cart requests this node served as owner for another node")
          .Register(prom)
          .Add({})});
  init.stats->members_up.Set(1);
  for (const auto& s : init.cfg.seeds)
    if (s != init.cfg.node) init.peers[s].address = s;
  if (init.peers.empty()) mark_joined(self, "no seeds");
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& st = self->state;
    for (auto& [addr, p] : st.peers) {
      if (!p.face || p.face.address() != dm.source) continue;
      spdlog::warn(R"({{"msg":"cluster member down","node":"{}","member":"{}","reason":"{}"}})",
                   st.cfg.node, addr, caf::to_string(dm.reason));
      p.up = false;
      p.face = nullptr;
      p.since_ms = now_ms();
      p.backoff = std::chrono::milliseconds{100};
      p.next_attempt = steady::now() + p.backoff;
      publish_view(self);
      return;
    }
  });
  self->send(self, gossip_atom::value);
  self->delayed_send(self, init.cfg.join_timeout, join_atom::value);
  return {
      [self](forward_request& fr) -> caf::result<forward_answer> {
        auto& st = self->state;
        st.view->stats().served_for_others++;
        st.stats->served_for_others.Increment();
        cart_request req{cart_id{fr.target},
                         fr.who,
                         fr.has_if_match ? std::optional<std::uint64_t>{fr.if_match} : std::nullopt,
                         from_wire(fr.command),
                         nullptr,
                         fr.spec};
        // The owner stores an Idempotency-Key answer in the transaction of the change, as for a
        // local request; the arriving node learns it did from `recorded`.
        auto spec = fr.spec;
        auto render = st.render;
        auto rp = self->make_response_promise<forward_answer>();
        self->request(st.registry, st.cfg.forward_timeout * 4 / 5, std::move(req))
            .then(
                [rp, spec, render](cart_reply& r) mutable {
                  auto a = (*render)(spec, r);
                  a.recorded = r.recorded;
                  rp.deliver(std::move(a));
                },
                [rp, spec, render](caf::error&) mutable {
                  rp.deliver((*render)(spec, cart_reply::failure(make_error(
                                              error_code::unavailable, "cart did not answer"))));
                });
        return rp;
      },
      [self](checkout_forward& cf) -> caf::result<forward_answer> {
        auto& st = self->state;
        st.view->stats().served_for_others++;
        st.stats->served_for_others.Increment();
        auto render = st.render_checkout;
        auto rp = self->make_response_promise<forward_answer>();
        auto fail = [rp, cf, render](domain_error e) mutable {
          rp.deliver(render(cf, checkout_reply::fail(std::move(e))));
        };
        if (!st.checkouts) {
          fail(make_error(error_code::unavailable, "checkout is not running"));
          return rp;
        }
        auto on_reply = [rp, cf, render](checkout_reply& r) mutable { rp.deliver(render(cf, r)); };
        auto on_error = [fail](caf::error&) mutable {
          fail(make_error(error_code::unavailable, "checkout did not answer"));
        };
        auto timeout = std::chrono::milliseconds(cf.timeout_ms);
        if (cf.op == checkout_forward::open) {
          checkout_open cmd{cf.id, cf.who, cart_id{cf.cart}, cf.shipping_address_json,
                            cf.billing_address_json, cf.shipping_method, cf.email, cf.tax_region};
          self->request(st.checkouts, timeout, std::move(cmd)).then(on_reply, on_error);
        } else if (cf.op == checkout_forward::process) {
          self->request(st.checkouts, timeout, checkout_process{cf.id, cf.who, cf.token, cf.traceparent})
              .then(on_reply, on_error);
        } else {
          self->request(st.checkouts, timeout, checkout_get{cf.id, cf.who})
              .then(on_reply, on_error);
        }
        return rp;
      },
      [self](hello_atom, member_info& from) -> std::vector<member_info> {
        // A member greets us: its handle is the sender (a direct connection, never a handle
        // passed on by a third node).
        auto sender = caf::actor_cast<caf::actor>(self->current_sender());
        if (sender) learn(self, from, sender);
        return known_members(self);
      },
      [self](leave_atom) {
        // Draining (SIGTERM): own nothing from now on and tell every live member, so that
        // they re-home this node's carts while it still answers; requests that reach it are
        // forwarded to the new owners until it stops.
        auto& st = self->state;
        if (st.view->leaving()) return;
        st.view->set_leaving();
        spdlog::info(R"({{"msg":"cluster leaving","node":"{}"}})", st.cfg.node);
        for (const auto& [addr, p] : st.peers)
          if (p.up && p.face) self->send(p.face, leave_atom::value, self_info(self));
        publish_view(self);
      },
      [self](leave_atom, member_info& who) {
        auto& st = self->state;
        auto it = st.peers.find(who.address);
        if (it == st.peers.end() || who.incarnation < it->second.incarnation) return;
        auto& p = it->second;
        p.left_incarnation = who.incarnation;
        if (!p.up) return;
        spdlog::info(R"({{"msg":"cluster member leaving","node":"{}","member":"{}"}})",
                     st.cfg.node, who.address);
        p.up = false;  // its face stays monitored: its exit comes as a down_msg
        p.since_ms = now_ms();
        publish_view(self);
      },
      [self](gossip_atom) {
        tick(self);
        self->delayed_send(self, self->state.cfg.gossip_interval, gossip_atom::value);
      },
      [self](forget_atom, std::string& id) {
        caf::anon_send(self->state.registry, forget_atom::value, std::move(id));
      },
      [self](join_atom) {
        if (!self->state.view->joined())
          spdlog::warn(R"({{"msg":"no cluster seed answered within the join timeout; serving alone until one does","node":"{}"}})",
                       self->state.cfg.node);
        mark_joined(self, "join timeout");
      },
  };
}

}  // namespace

caf::actor spawn_cluster_face(caf::actor_system& sys, cluster_settings settings,
                              std::shared_ptr<cluster_view> view, cart_registry_actor registry,
                              const forward_renderer* render, caf::actor checkouts,
                              checkout_renderer render_checkout, metrics& m) {
  return sys.spawn(face, std::move(settings), std::move(view), std::move(registry),
                   render, std::move(checkouts), std::move(render_checkout), &m);
}

}  // namespace cartd
