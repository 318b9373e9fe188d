#pragma once
// The one way to the payment provider: every call runs on the payments bulkhead (fixed
// workers, bounded queue), passes the circuit breaker (domain/circuit_breaker.hpp), and is
// counted and timed by operation and outcome. While the breaker is open a call is refused at
// once (the caller answers 503 with Retry-After and changes nothing); a full bulkhead is
// refused at once too. A slow or dead provider fills only its own bulkhead: carts never wait.
#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "actors/bulkhead.hpp"
#include "domain/circuit_breaker.hpp"
#include "payments/payment_provider.hpp"

namespace cartd {

struct checkout_metrics;

struct gateway_result {
  enum class kind {
    answered,      ///< the provider was called; `r` has its outcome
    breaker_open,  ///< refused: the breaker is open (nothing was sent)
    busy,          ///< refused: the payments bulkhead is full
    lost,          ///< the worker did not answer in time (treated as a timeout)
  } how = kind::lost;
  provider_result r;
};

struct breaker_figures {
  std::string state;
  int consecutive_failures = 0;
  std::int64_t opened = 0;
  std::int64_t retry_after_ms = 0;
  int failures_to_open = 0;
  std::int64_t cooldown_ms = 0;
};

class payment_gateway {
 public:
  payment_gateway(std::unique_ptr<payment_provider> provider, bulkhead& pool, checkout_metrics& m,
                  breaker_settings breaker, std::chrono::milliseconds call_timeout);
  payment_gateway(const payment_gateway&) = delete;
  payment_gateway& operator=(const payment_gateway&) = delete;

  std::string provider_name() const { return provider_->name(); }
  /// True while the breaker refuses calls (a caller may answer 503 before doing anything).
  bool refusing() const;
  /// Whole seconds until the breaker lets a trial call through (at least 1).
  int retry_after_s() const;
  breaker_figures breaker() const;
  /// How long a caller waits for a call's answer (the provider's timeout plus queueing).
  std::chrono::milliseconds wait_budget() const { return call_timeout_ * 2 + std::chrono::seconds(2); }

  /// Runs `fn(payment_provider&) -> provider_result` as operation `op` on the bulkhead, through
  /// the breaker; then `k(gateway_result)` on `self`, whose mailbox waits for it. `trace_id`
  /// (the shopper's request's, when there is one) goes into the log line of a failed call.
  template <class Self, class Fn, class K>
  void call(Self* self, const char* op, Fn fn, K k, std::string trace_id = {}) {
    if (refusing()) return k(gateway_result{gateway_result::kind::breaker_open, {}});
    std::string name = op;
    call_bulkhead<gateway_result>(
        self, pool_, wait_budget(),
        [this, name, fn, trace_id]() { return run(name, fn, trace_id); },
        [k](std::optional<gateway_result> r) mutable { k(r ? *r : gateway_result{}); },
        [k]() mutable { k(gateway_result{gateway_result::kind::busy, {}}); }, true);
  }

  /// Blocking variant for threads that may block (reconciliation): same breaker and metrics.
  gateway_result call_here(const char* op,
                           const std::function<provider_result(payment_provider&)>& fn) {
    return run(op, fn);
  }

  /// The provider's payments for a checkout session, through the breaker (blocking: call it
  /// only from a thread that may block). Nothing when the provider could not be asked.
  std::optional<std::vector<provider_payment>> lookup_here(const std::string& reference);

  void stop() { provider_->stop(); }

 private:
  gateway_result run(const std::string& op,
                     const std::function<provider_result(payment_provider&)>& fn,
                     const std::string& trace_id = {});
  void publish_state(std::int64_t now);

  std::unique_ptr<payment_provider> provider_;
  bulkhead& pool_;
  checkout_metrics& metrics_;
  std::chrono::milliseconds call_timeout_;
  mutable std::mutex mtx_;
  circuit_breaker breaker_;
};

}  // namespace cartd
