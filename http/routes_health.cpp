#include <caf/all.hpp>
#include <chrono>

#include "actors/cart_lifecycle.hpp"
#include "actors/event_relay.hpp"
#include "actors/bulkhead.hpp"
#include "actors/checkout_actor.hpp"
#include "actors/checkout_reconciler.hpp"
#include "actors/payment_gateway.hpp"
#include "actors/store_pool.hpp"
#include "actors/cluster.hpp"
#include "actors/system.hpp"
#include "app/memory.hpp"
#include "domain/time.hpp"
#include "http/json.hpp"
#include "http/route_support.hpp"
#include "http/routes.hpp"
#include "http/service.hpp"

namespace cartd {

std::string_view openapi_document();

namespace {

struct ping_result {
  bool ok = false;
  double ms = 0;
};

/// Pings the store through the store workers (never on this thread).
void ping_store(caf::event_based_actor* self, const exchange_ptr& e,
                std::function<void(ping_result)> next) {
  call_store<double>(
      self, e->svc.runtime.store_pool(), e->svc.cfg.http.request_timeout / 2, false,
      [](store& s) {
        auto start = std::chrono::steady_clock::now();
        s.ping();
        return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
            .count();
      },
      [next](std::optional<double> ms) { next(ping_result{ms.has_value(), ms.value_or(0)}); });
}

/// Redis answers the rate limiter or the event relay (whichever talks to it).
bool redis_up(const service& svc) {
  return svc.limiter->redis_up() || (svc.relay && svc.relay->redis_up());
}

}  // namespace

void health(const exchange_ptr& ex) { ex->respond(json_response(200, R"({"status":"ok"})")); }

void health_ready(const exchange_ptr& ex) {
  if (ex->svc.draining) {
    auto resp = json_response(503, R"({"status":"not_ready","reason":"draining"})");
    resp.headers.emplace_back("Retry-After", "1");
    return ex->respond(std::move(resp));
  }
  ex->run(auth_mode::none, [](caf::event_based_actor* self, exchange_ptr e, finish_fn finish) {
    ping_store(self, e, [e, finish](ping_result r) {
      bool redis_ok = !e->svc.limiter->redis_configured() || redis_up(e->svc);
      auto* cv = e->svc.runtime.cluster();
      bool joined = !cv || cv->joined();
      if (r.ok && redis_ok && joined) return finish(json_response(200, R"({"status":"ready"})"));
      auto resp = json_response(503, !r.ok      ? R"({"status":"not_ready","reason":"store"})"
                                     : !redis_ok ? R"({"status":"not_ready","reason":"redis"})"
                                                 : R"({"status":"not_ready","reason":"cluster"})");
      resp.headers.emplace_back("Retry-After", "1");
      finish(std::move(resp));
    });
  });
}

void write_health_detailed(json_writer& w, service& svc, bool store_ok, double store_ms) {
  const ping_result r{store_ok, store_ms};
  auto& rt = svc.runtime;
  const auto& carts = rt.carts();
  auto& m = svc.stats;
  w.begin_object();
  bool redis_down = svc.limiter->redis_configured() && !redis_up(svc);
  w.field("status", !r.ok ? "down" : redis_down ? "degraded" : "ok");
  w.field("node", svc.cfg.node.name);
  w.field("version", CARTD_VERSION);
  w.field("uptimeSeconds", (now_ms() - svc.started_ms) / 1000);
  w.key("components").begin_object();
  w.key("store").begin_object()
      .field("status", r.ok ? "ok" : "down")
      .field("kind", rt.db().kind())
      .field("latencyMicros", static_cast<std::int64_t>(r.ms * 1000))
      .field("workers", svc.cfg.store.workers)
      .field("jobsInFlight", static_cast<std::int64_t>(m.store_jobs_in_flight.Value()))
      .field("jobFailures", static_cast<std::int64_t>(m.store_job_failures.Value()))
      .end_object();
  const auto& limiter = *svc.limiter;
  w.key("redis").begin_object()
      .field("status", !limiter.redis_configured() ? "disabled"
                       : redis_up(svc)             ? "ok"
                                                   : "down")
      .field("rateLimiter", limiter.mode())
      .end_object();
  w.key("events").begin_object();
  if (svc.relay) {
    w.field("status", svc.relay->redis_up() ? "ok" : "waiting")
        .field("stream", event_relay::stream)
        .field("role", svc.relay->relaying() ? "relay" : "standby")
        .field("published", svc.relay->published())
        .field("waiting", svc.relay->waiting());
  } else {
    w.field("status", "disabled");
  }
  w.end_object();
  w.key("cluster").begin_object();
  if (auto* cv = rt.cluster()) {
    auto ms = cv->members();
    std::int64_t up = 1;
    for (const auto& mb : ms) up += mb.up ? 1 : 0;
    const auto& f = cv->stats();
    w.field("status", !cv->joined() ? "joining" : up == static_cast<std::int64_t>(ms.size()) + 1 ? "ok" : "degraded")
        .field("mode", "cluster")
        .field("node", cv->local_node())
        .field("joined", cv->joined())
        .field("membersUp", up)
        .field("membersKnown", static_cast<std::int64_t>(ms.size()) + 1)
        .field("sharePercent", static_cast<std::int64_t>(100 / up))  // of the hash space
        .field("liveCarts", carts.live.load())
        .field("forwarded", f.forwarded.load())
        .field("forwardFailures", f.forward_failures.load())
        .field("servedForOthers", f.served_for_others.load())
        .field("rehomedCarts", carts.rehomed.load())
        .field("staleOwnerConflicts", static_cast<std::int64_t>(m.version_conflicts.Value()))
        .field("membershipChanges", f.member_changes.load())
        .field("leaving", cv->leaving());
    w.key("members").begin_array();
    w.begin_object().field("address", cv->local_node()).field("state", "up").field("self", true).end_object();
    for (const auto& mb : ms) {
      w.begin_object()
          .field("address", mb.address)
          .field("state", mb.up ? "up" : "down")
          .field("incarnation", static_cast<std::int64_t>(mb.incarnation))
          .field("self", false)
          .end_object();
    }
    w.end_array();
  } else {
    w.field("status", "ok").field("mode", "single-node").field("members", 1);
  }
  w.end_object();
  w.key("lifecycle").begin_object();
  if (svc.lifecycle) {
    auto lf = svc.lifecycle->figures();
    const auto& ls = svc.lifecycle->settings();
    w.field("status", lf.last_failed   ? "failing"
                      : lf.sweeps == 0 ? "starting"
                                       : "ok")
        .field("abandonAfterSeconds",
               static_cast<std::int64_t>(ls.abandon_after.count() / 1000))
        .field("expireAfterSeconds", static_cast<std::int64_t>(ls.expire_after.count() / 1000))
        .field("sweepIntervalMillis", static_cast<std::int64_t>(ls.interval.count()))
        .field("events", ls.with_events)
        .key("abandoned");
    if (lf.abandoned >= 0)
      w.value(lf.abandoned);
    else
      w.null();
    w.field("reported", lf.reported)
        .field("purged", lf.purged)
        .field("sweeps", lf.sweeps)
        .field("passes", lf.passes)
        .field("failures", lf.failures)
        .key("lastSweepAt");
    if (lf.last_sweep_ms > 0)
      w.value(format_rfc3339(lf.last_sweep_ms));
    else
      w.null();
  } else {
    w.field("status", "disabled");
  }
  w.end_object();
  w.key("pools").begin_array();
  for (const auto& f : svc.runtime.db().pools()) {
    w.begin_object()
        .field("name", f.name)
        .field("maxSize", f.max_size)
        .field("open", f.open)
        .field("idle", f.idle)
        .field("acquired", f.acquired)
        .field("waited", f.waited)
        .field("timeouts", f.timeouts)
        .end_object();
  }
  w.end_array();
  w.key("actors").begin_object()
      .field("status", "ok")
      .key("cart").begin_object()
      .field("live", carts.live.load())
      .field("spawned", carts.spawned.load())
      .field("passivated", carts.passivated.load())
      .field("restarted", carts.restarted.load())
      .field("mailboxDepth", static_cast<std::int64_t>(m.cart_mailbox_depth.Value()))
      .end_object()
      .key("snapshotWriter").begin_object()
      .field("groupCommit", svc.cfg.store.group_commit)
      .field("batchMax", svc.cfg.store.batch_max)
      .field("queueDepth", static_cast<std::int64_t>(m.snapshot_queue_depth.Value()))
      .field("versionConflicts", static_cast<std::int64_t>(m.version_conflicts.Value()))
      .end_object()
      .end_object();
  // The pricing bulkhead at the top (issue 4), and every bulkhead among the bulkheads.
  auto write_bulkhead = [&](const bulkhead_figures& pf) {
    w.begin_object()
        .field("status", pf.full() ? "full" : "ok")
        .field("workers", pf.workers)
        .field("queueMax", pf.queue_max)
        .field("inFlight", pf.in_flight)
        .field("queued", pf.queued)
        .field("rejected", pf.rejected)
        .field("completed", pf.completed)
        .end_object();
  };
  auto pricing = svc.runtime.pricing_workers().figures();
  w.key("pricing");
  write_bulkhead(pricing);
  w.key("bulkheads").begin_object();
  for (const auto& f : {pricing, svc.runtime.payment_workers().figures()}) {
    w.key(f.name);
    write_bulkhead(f);
  }
  w.end_object();
  w.key("circuitBreakers").begin_object();
  if (auto* gw = svc.runtime.payments()) {
    auto b = gw->breaker();
    w.key("payments")
        .begin_object()
        .field("state", b.state)
        .field("provider", gw->provider_name())
        .field("consecutiveFailures", b.consecutive_failures)
        .field("opened", b.opened)
        .field("retryAfterMs", b.retry_after_ms)
        .field("failuresToOpen", b.failures_to_open)
        .field("cooldownMs", b.cooldown_ms)
        .end_object();
  }
  w.end_object();
  w.key("checkout").begin_object();
  if (auto* f = svc.runtime.checkout_figures()) {
    w.field("status", "ok")
        .field("live", f->live.load())
        .field("spawned", f->spawned.load())
        .field("started", f->started.load())
        .field("completed", f->completed.load())
        .field("expired", f->expired.load())
        .field("declined", f->declined.load())
        .field("sessionTtlMillis", static_cast<std::int64_t>(svc.cfg.checkout.session_ttl.count()));
  } else {
    w.field("status", "disabled");
  }
  if (svc.reconciler) {
    auto rf = svc.reconciler->figures();
    w.key("reconciliation")
        .begin_object()
        .field("intervalMillis", static_cast<std::int64_t>(svc.reconciler->interval().count()))
        .field("rounds", rf.rounds)
        .field("expired", rf.expired)
        .field("completed", rf.completed)
        .field("reopened", rf.reopened)
        .field("settled", rf.settled)
        .field("failures", rf.failures)
        .key("lastRoundAt");
    if (rf.last_round_ms > 0) w.value(format_rfc3339(rf.last_round_ms)); else w.null();
    w.end_object();
  }
  w.end_object();
  w.key("http")
      .begin_object()
      .field("inFlight", svc.in_flight.load())
      .field("draining", svc.draining.load())
      .field("connections", svc.connections.load())
      .field("maxConnections", svc.max_connections)
      .field("connectionsRefused", svc.connections_refused.load())
      .end_object();
  // Memory: a leak grows allocatedBytes; the allocator or SQLite's caches settling grow only
  // the others (bench/soak records them all). -1: not known (no tcmalloc in this build).
  auto mem = read_memory();
  w.key("memory")
      .begin_object()
      .field("rssBytes", mem.rss)
      .field("rssAnonBytes", mem.rss_anon)
      .field("allocatedBytes", mem.allocated)
      .field("allocatorFreeBytes", mem.allocator_free)
      .field("sqliteBytes", mem.sqlite)
      .field("rateLimitBuckets", static_cast<std::int64_t>(svc.limiter ? svc.limiter->local_buckets() : 0))
      .field("cachedSessions", static_cast<std::int64_t>(svc.sessions.size()))
      .end_object();
  w.end_object();
  w.end_object();
}

void health_detailed(const exchange_ptr& ex) {
  ex->run(auth_mode::none, [](caf::event_based_actor* self, exchange_ptr e, finish_fn finish) {
    ping_store(self, e, [e, finish](ping_result r) {
      json_writer w;
      write_health_detailed(w, e->svc, r.ok, r.ms);
      finish(json_response(r.ok ? 200 : 503, w.str()));
    });
  });
}

void dashboard_data(const exchange_ptr& ex) {
  ex->run(auth_mode::none, [](caf::event_based_actor* self, exchange_ptr e, finish_fn finish) {
    ping_store(self, e, [e, finish](ping_result r) {
      auto& svc = e->svc;
      json_writer w;
      w.begin_object()
          .field("node", svc.cfg.node.name)
          .field("version", CARTD_VERSION)
          .field("time", now_ms())
          .field("uptimeSeconds", (now_ms() - svc.started_ms) / 1000)
          .key("health");
      write_health_detailed(w, svc, r.ok, r.ms);
      w.key("metrics");
      write_metric_families(w, svc.stats);
      w.end_object();
      auto resp = json_response(200, w.str());
      add_dashboard_headers(resp);
      finish(std::move(resp));
    });
  });
}

void health_metrics(const exchange_ptr& ex) {
  http_response r;
  auto mem = read_memory();
  ex->svc.stats.set_memory(mem.rss, mem.allocated, mem.allocator_free, mem.sqlite);
  r.body = ex->svc.stats.render();
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  ex->respond(std::move(r));
}

void openapi_json(const exchange_ptr& ex) {
  ex->respond(json_response(200, std::string(openapi_document())));
}

}  // namespace cartd
