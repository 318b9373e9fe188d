#include "actors/metrics.hpp"

#include <prometheus/text_serializer.h>

#include <map>

namespace cartd {

namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;
using prometheus::Histogram;

const Histogram::BucketBoundaries& latency_buckets() {
  static const Histogram::BucketBoundaries b{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                             0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                             1,      2.5,     5};
  return b;
}

const Histogram::BucketBoundaries& batch_buckets() {
  static const Histogram::BucketBoundaries b{1, 2, 4, 8, 16, 32, 64, 128, 256, 512};
  return b;
}

// Families are built before the member references that point into them, so they are created
// through this helper in the member initialiser list.
template <class Builder>
auto& family(Builder&& b, prometheus::Registry& r) {
  return b.Register(r);
}

std::shared_ptr<prometheus::Registry> make_registry() {
  return std::make_shared<prometheus::Registry>();
}

}  // namespace

metrics::metrics()
    : registry_(make_registry()),
      carts_live(
          family(BuildGauge().Name("cartd_actors_live").Help("Live actors by kind"), *registry_)
              .Add({{"kind", "cart"}})),
      carts_spawned(
          family(BuildCounter().Name("cartd_actors_spawned_total").Help("Actors spawned by kind"),
                 *registry_)
              .Add({{"kind", "cart"}})),
      carts_passivated(family(BuildCounter()
                                  .Name("cartd_actors_passivated_total")
                                  .Help("Actors passivated after their idle timeout"),
                              *registry_)
                           .Add({{"kind", "cart"}})),
      cart_restarts(family(BuildCounter()
                               .Name("cartd_actor_restarts_total")
                               .Help("Actors that failed and were restarted from their snapshot"),
                           *registry_)
                        .Add({{"kind", "cart"}})),
      carts_rehomed(family(BuildCounter()
                               .Name("cartd_cluster_rehomed_carts_total")
                               .Help("Live carts this node let go of because membership moved "
                                     "them to another owner"),
                           *registry_)
                        .Add({})),
      cart_mailbox_depth(family(BuildGauge()
                                    .Name("cartd_actor_mailbox_depth")
                                    .Help("Messages queued for actors of a kind, not yet handled"),
                                *registry_)
                             .Add({{"kind", "cart"}})),
      cart_message_seconds(family(BuildHistogram()
                                      .Name("cartd_actor_message_seconds")
                                      .Help("Time to handle one message, store I/O included"),
                                  *registry_)
                               .Add({{"kind", "cart"}}, latency_buckets())),
      snapshot_batch_size(family(BuildHistogram()
                                     .Name("cartd_snapshot_batch_size")
                                     .Help("Cart snapshot writes per group-commit transaction"),
                                 *registry_)
                              .Add({}, batch_buckets())),
      snapshot_commit_seconds(family(BuildHistogram()
                                         .Name("cartd_snapshot_commit_seconds")
                                         .Help("Duration of one group-commit transaction"),
                                     *registry_)
                                  .Add({}, latency_buckets())),
      snapshot_queue_depth(family(BuildGauge()
                                      .Name("cartd_snapshot_queue_depth")
                                      .Help("Snapshot writes waiting for a transaction"),
                                  *registry_)
                               .Add({})),
      version_conflicts(
          family(BuildCounter()
                     .Name("cartd_version_conflicts_total")
                     .Help("Snapshot writes refused because the stored version moved"),
                 *registry_)
              .Add({})),
      store_jobs_in_flight(family(BuildGauge()
                                      .Name("cartd_store_jobs_in_flight")
                                      .Help("Blocking store calls running on store workers"),
                                  *registry_)
                               .Add({})),
      store_job_failures(family(BuildCounter()
                                    .Name("cartd_store_job_failures_total")
                                    .Help("Store calls that failed (store down, I/O error)"),
                                *registry_)
                             .Add({})),
      redis_up(family(BuildGauge()
                          .Name("cartd_redis_up")
                          .Help("1 while Redis answers (rate limiter), else 0"),
                      *registry_)
                   .Add({})),
      rate_limit_batch_size(
          family(BuildHistogram()
                     .Name("cartd_rate_limit_batch_size")
                     .Help("Rate-limit decisions sent to Redis in one round trip"),
                 *registry_)
              .Add({}, batch_buckets())),
      outbox_published(
          family(BuildCounter()
                     .Name("cartd_events_published_total")
                     .Help("Domain events relayed from the outbox to the Redis stream"),
                 *registry_)
              .Add({})),
      outbox_waiting(family(BuildGauge()
                                .Name("cartd_outbox_waiting")
                                .Help("Events in the outbox at the relay's last look (up to 500); 0 on a standby node"),
                            *registry_)
                         .Add({})),
      outbox_relay_errors(family(BuildCounter()
                                     .Name("cartd_outbox_relay_errors_total")
                                     .Help("Relay rounds that failed (store or Redis down)"),
                                 *registry_)
                              .Add({})),
      carts_created(
          family(BuildCounter().Name("cartd_carts_created_total").Help("Carts created"), *registry_)
              .Add({})),
      items_added(
          family(BuildCounter().Name("cartd_items_added_total").Help("Add-item commands committed"),
                 *registry_)
              .Add({})),
      carts_abandoned(
          family(BuildGauge()
                     .Name("cartd_carts_abandoned")
                     .Help("Active carts unchanged for cart.abandon_after, at the last sweep"),
                 *registry_)
              .Add({})),
      carts_abandoned_total(
          family(BuildCounter()
                     .Name("cartd_carts_abandoned_total")
                     .Help("Carts this node reported abandoned (once per idle spell)"),
                 *registry_)
              .Add({})),
      carts_purged_total(
          family(BuildCounter()
                     .Name("cartd_carts_purged_total")
                     .Help("Carts this node purged after cart.expire_after unchanged"),
                 *registry_)
              .Add({})),
      lifecycle_failures(family(BuildCounter()
                                    .Name("cartd_cart_lifecycle_failures_total")
                                    .Help("Lifecycle sweeps that failed (store down)"),
                                *registry_)
                             .Add({})),
      lifecycle_sweep_seconds(
          family(BuildHistogram()
                     .Name("cartd_cart_lifecycle_sweep_seconds")
                     .Help("Time one lifecycle sweep took"),
                 *registry_)
              .Add({}, Histogram::BucketBoundaries{0.001, 0.01, 0.1, 0.5, 1, 5, 30, 120})),
      http_connections(family(BuildGauge()
                                  .Name("cartd_http_connections")
                                  .Help("Client connections open on the HTTP port"),
                              *registry_)
                           .Add({})),
      http_connections_refused(
          family(BuildCounter()
                     .Name("cartd_http_connections_refused_total")
                     .Help("Connections answered 503 and closed: http.max_connections reached"),
                 *registry_)
              .Add({})) {
  memory_ = &BuildGauge()
                 .Name("cartd_memory_bytes")
                 .Help("Process memory by kind: rss, allocated (tcmalloc), allocator_free, sqlite")
                 .Register(*registry_);
  http_requests_ = &BuildCounter()
                        .Name("cartd_http_requests_total")
                        .Help("HTTP requests by route, method and status")
                        .Register(*registry_);
  rate_limit_ = &BuildCounter()
                     .Name("cartd_rate_limit_decisions_total")
                     .Help("Rate-limit decisions by result and by who decided")
                     .Register(*registry_);
  http_duration_ = &BuildHistogram()
                        .Name("cartd_http_request_duration_seconds")
                        .Help("HTTP request latency by route")
                        .Register(*registry_);
  bulkhead_in_flight_ = &BuildGauge()
                             .Name("cartd_bulkhead_in_flight")
                             .Help("Jobs running on a bulkhead's workers, by pool")
                             .Register(*registry_);
  bulkhead_queued_ = &BuildGauge()
                          .Name("cartd_bulkhead_queued")
                          .Help("Jobs admitted to a bulkhead and waiting for a worker, by pool")
                          .Register(*registry_);
  bulkhead_rejected_ = &BuildCounter()
                            .Name("cartd_bulkhead_rejected_total")
                            .Help("Jobs a full bulkhead refused (503), by pool")
                            .Register(*registry_);
  bulkhead_completed_ = &BuildCounter()
                             .Name("cartd_bulkhead_completed_total")
                             .Help("Jobs a bulkhead's workers finished, by pool")
                             .Register(*registry_);
  bulkhead_seconds_ = &BuildHistogram()
                           .Name("cartd_bulkhead_job_seconds")
                           .Help("Time one bulkhead job ran, queueing excluded, by pool")
                           .Register(*registry_);
  auto& r = *registry_;
  // Families shared with the carts (kind label) merge with theirs (Registry::InsertBehavior).
  auto& live = BuildGauge().Name("cartd_actors_live").Help("Live actors by kind").Register(r);
  auto& spawned =
      BuildCounter().Name("cartd_actors_spawned_total").Help("Actors spawned by kind").Register(r);
  auto counter = [&r](const char* name, const char* help) -> prometheus::Counter& {
    return BuildCounter().Name(name).Help(help).Register(r).Add({});
  };
  checkout_ = std::make_unique<checkout_metrics>(checkout_metrics{
      live.Add({{"kind", "checkout"}}),
      spawned.Add({{"kind", "checkout"}}),
      counter("cartd_checkouts_started_total", "Checkout sessions opened (stock reserved)"),
      counter("cartd_checkouts_completed_total", "Checkout sessions that became an order"),
      counter("cartd_checkouts_expired_total", "Checkout sessions expired (stock released)"),
      counter("cartd_checkouts_declined_total", "Payments declined at checkout"),
      BuildHistogram()
          .Name("cartd_order_value")
          .Help("Order totals in minor units of their currency")
          .Register(r)
          .Add({}, Histogram::BucketBoundaries{500, 1000, 2500, 5000, 10000, 25000, 50000, 100000,
                                               250000, 1000000}),
      BuildCounter().Name("cartd_orders_total").Help("Orders entering a status, by status").Register(r),
      BuildCounter()
          .Name("cartd_payment_calls_total")
          .Help("Calls to the payment provider by operation and outcome")
          .Register(r),
      BuildHistogram()
          .Name("cartd_payment_call_seconds")
          .Help("Payment provider call latency by operation")
          .Register(r),
      BuildGauge()
          .Name("cartd_circuit_breaker_state")
          .Help("Circuit breaker state: 0 closed, 1 open, 2 half-open")
          .Register(r)
          .Add({{"name", "payments"}}),
      BuildCounter()
          .Name("cartd_circuit_breaker_opened_total")
          .Help("Times a circuit breaker opened")
          .Register(r)
          .Add({{"name", "payments"}}),
      counter("cartd_payment_webhooks_total", "Validly signed payment webhook events received"),
      counter("cartd_payment_webhooks_rejected_total", "Webhook calls refused (bad signature)"),
      counter("cartd_payments_reconciled_total",
              "Payments reconciliation completed into an order, voided or refunded"),
  });
}

std::shared_ptr<bulkhead_metrics> metrics::bulkhead(const std::string& pool) {
  // Family::Add returns the existing child for labels it has seen: safe to call again.
  const std::map<std::string, std::string> labels{{"pool", pool}};
  return std::make_shared<bulkhead_metrics>(bulkhead_metrics{
      bulkhead_in_flight_->Add(labels), bulkhead_queued_->Add(labels),
      bulkhead_rejected_->Add(labels), bulkhead_completed_->Add(labels),
      bulkhead_seconds_->Add(labels, latency_buckets())});
}

void metrics::observe_http(const std::string& route, const char* method, int status,
                           double seconds) {
  std::string key = route;
  key += '\x1f';
  key += method;
  key += '\x1f';
  key += std::to_string(status);
  prometheus::Counter* counter = nullptr;
  prometheus::Histogram* histogram = nullptr;
  {
    std::lock_guard<std::mutex> guard(http_mtx_);
    auto& c = http_counters_[key];
    if (!c) {
      c = &http_requests_->Add(
          {{"route", route}, {"method", method}, {"status", std::to_string(status)}});
    }
    counter = c;
    auto& h = http_histograms_[route];
    if (!h) h = &http_duration_->Add({{"route", route}}, latency_buckets());
    histogram = h;
  }
  counter->Increment();
  histogram->Observe(seconds);
}

void metrics::rate_limit_decision(bool allowed, const char* mode) {
  // Four children at most: looked up by the family's own index.
  rate_limit_->Add({{"result", allowed ? "allowed" : "limited"}, {"mode", mode}}).Increment();
}

std::string metrics::render() const {
  prometheus::TextSerializer serializer;
  return serializer.Serialize(registry_->Collect());
}

void metrics::set_memory(std::int64_t rss, std::int64_t allocated, std::int64_t allocator_free,
                         std::int64_t sqlite) {
  auto set = [this](const char* kind, std::int64_t v) {
    if (v >= 0) memory_->Add({{"kind", kind}}).Set(static_cast<double>(v));
  };
  set("rss", rss);
  set("allocated", allocated);
  set("allocator_free", allocator_free);
  set("sqlite", sqlite);
}

}  // namespace cartd
