#pragma once
// Every metric of cartd, declared once. Families are created in metrics.cpp; code holds
// references to the children it updates. Rendered at /metrics by http/routes_health.cpp.
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace cartd {

/// The children of one bulkhead (label pool="<name>").
struct bulkhead_metrics {
  prometheus::Gauge& in_flight;
  prometheus::Gauge& queued;
  prometheus::Counter& rejected;
  prometheus::Counter& completed;
  prometheus::Histogram& seconds;
};

/// Checkout, payments and orders (actors/checkout_actor.cpp, actors/payment_gateway.cpp,
/// actors/orders_actor.cpp).
struct checkout_metrics {
  prometheus::Gauge& live;  ///< cartd_actors_live{kind="checkout"}
  prometheus::Counter& spawned;
  prometheus::Counter& started;
  prometheus::Counter& completed;
  prometheus::Counter& expired;
  prometheus::Counter& declined;
  prometheus::Histogram& order_value;  ///< minor units
  prometheus::Family<prometheus::Counter>& orders;  ///< {status}: orders entering a status
  prometheus::Family<prometheus::Counter>& payment_calls;      ///< {operation, outcome}
  prometheus::Family<prometheus::Histogram>& payment_seconds;  ///< {operation}
  prometheus::Gauge& breaker_state;  ///< {name="payments"}: 0 closed, 1 open, 2 half-open
  prometheus::Counter& breaker_opened;
  prometheus::Counter& webhooks;  ///< validly signed events received
  prometheus::Counter& webhooks_rejected;
  prometheus::Counter& reconciled;  ///< payments reconciliation completed, voided or refunded
};

class metrics {
  // First member: the families below are registered in it during construction.
  std::shared_ptr<prometheus::Registry> registry_;

 public:
  metrics();
  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }
  std::string render() const;

  /// One HTTP request finished: counts it by route, method and status and times it by route.
  void observe_http(const std::string& route, const char* method, int status, double seconds);
  /// One rate-limit decision: allowed or limited, decided by "redis" or "local".
  void rate_limit_decision(bool allowed, const char* mode);
  void rate_limit_batch(double size) { rate_limit_batch_size.Observe(size); }

  // Actors (kind="cart").
  prometheus::Gauge& carts_live;
  prometheus::Counter& carts_spawned;
  prometheus::Counter& carts_passivated;
  prometheus::Counter& cart_restarts;
  prometheus::Counter& carts_rehomed;
  prometheus::Gauge& cart_mailbox_depth;
  prometheus::Histogram& cart_message_seconds;
  // Snapshot writer.
  prometheus::Histogram& snapshot_batch_size;
  prometheus::Histogram& snapshot_commit_seconds;
  prometheus::Gauge& snapshot_queue_depth;
  prometheus::Counter& version_conflicts;
  // Store workers.
  prometheus::Gauge& store_jobs_in_flight;
  prometheus::Counter& store_job_failures;
  // Rate limiting and Redis.
  prometheus::Gauge& redis_up;
  prometheus::Histogram& rate_limit_batch_size;
  // Outbox relay.
  prometheus::Counter& outbox_published;
  prometheus::Gauge& outbox_waiting;
  prometheus::Counter& outbox_relay_errors;
  checkout_metrics& checkout() { return *checkout_; }
  /// The metrics of the bulkhead named `pool` (created on first use).
  std::shared_ptr<bulkhead_metrics> bulkhead(const std::string& pool);
  // Business figures.
  prometheus::Counter& carts_created;
  prometheus::Counter& items_added;
  // Cart lifecycle (actors/cart_lifecycle.cpp)
  prometheus::Gauge& carts_abandoned;
  prometheus::Counter& carts_abandoned_total;
  prometheus::Counter& carts_purged_total;
  prometheus::Counter& lifecycle_failures;
  prometheus::Histogram& lifecycle_sweep_seconds;
  // HTTP connections (http/server.cpp).
  prometheus::Gauge& http_connections;
  prometheus::Counter& http_connections_refused;
  /// cartd_memory_bytes{kind}: set when /metrics is rendered (app/memory.hpp); an unknown
  /// figure (-1) is left out.
  void set_memory(std::int64_t rss, std::int64_t allocated, std::int64_t allocator_free,
                  std::int64_t sqlite);

 private:
  prometheus::Family<prometheus::Gauge>* memory_;
  prometheus::Family<prometheus::Counter>* http_requests_;
  prometheus::Family<prometheus::Histogram>* http_duration_;
  prometheus::Family<prometheus::Counter>* rate_limit_;
  prometheus::Family<prometheus::Gauge>* bulkhead_in_flight_;
  prometheus::Family<prometheus::Gauge>* bulkhead_queued_;
  prometheus::Family<prometheus::Counter>* bulkhead_rejected_;
  prometheus::Family<prometheus::Counter>* bulkhead_completed_;
  prometheus::Family<prometheus::Histogram>* bulkhead_seconds_;
  std::unique_ptr<checkout_metrics> checkout_;
  std::mutex http_mtx_;
  std::unordered_map<std::string, prometheus::Counter*> http_counters_;
  std::unordered_map<std::string, prometheus::Histogram*> http_histograms_;
};

}  // namespace cartd
