#pragma once
// Who charges the card (API.md, Payments): one interface, two providers. `simulated` keeps its
// own ledger in the store; `http` speaks the provider protocol of API.md over libcurl. Calls
// block: they run only on the payments bulkhead's workers (actors/payment_gateway.hpp), which
// adds the circuit breaker and the metrics. Every call that changes money carries an
// idempotency key that stays the same when the same operation is retried, so a retry (after a
// timeout, after a crash) never charges twice.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace cartd {

class store;
struct config;

struct provider_payment {
  std::string id;
  std::string status;  ///< authorized | declined | pending | captured | voided | refunded
  std::int64_t amount = 0;
  std::string currency;
  std::string reference;  ///< the checkout session id
};

enum class provider_outcome {
  ok,        ///< the provider answered; `payment` says what it did
  declined,  ///< a new payment refused (a 4xx, or status declined): 402, not a failure
  failure,   ///< a 5xx, a refused connection, a bad answer: counts for the breaker
  timeout,   ///< no answer within payments.timeout: outcome unknown, counts for the breaker
};

struct provider_result {
  provider_outcome outcome = provider_outcome::failure;
  provider_payment payment;
  std::string detail;  ///< for the log, never for the client
};

struct authorize_request {
  std::string idempotency_key;
  std::int64_t amount = 0;
  std::string currency;
  std::string token;
  std::string reference;
  std::string traceparent;  ///< W3C trace context of the shopper's request; empty: none
};

class payment_provider {
 public:
  virtual ~payment_provider() = default;
  virtual std::string name() const = 0;
  virtual provider_result authorize(const authorize_request& r) = 0;
  virtual provider_result capture(const std::string& payment_id, std::int64_t amount,
                                  const std::string& idempotency_key) = 0;
  virtual provider_result void_payment(const std::string& payment_id,
                                       const std::string& idempotency_key) = 0;
  virtual provider_result refund(const std::string& payment_id, std::int64_t amount,
                                 const std::string& idempotency_key) = 0;
  /// The payments made for a checkout session; nothing when the provider could not be asked.
  virtual std::optional<std::vector<provider_payment>> find_by_reference(
      const std::string& reference) = 0;
  /// Wakes calls waiting on purpose (tok_timeout) so that shutdown does not wait for them.
  virtual void stop() {}
};

/// Gives payment `id` back: a refund of `amount` when it was captured, else a void. The
/// provider Idempotency-Key is one per payment and operation, so a repeat (a retry,
/// reconciliation after a crash) gives it back once.
inline provider_result give_back(payment_provider& p, const std::string& id, bool captured,
                                 std::int64_t amount) {
  return captured ? p.refund(id, amount, "cartd-refund-" + id)
                  : p.void_payment(id, "cartd-void-" + id);
}
inline const char* give_back_operation(bool captured) { return captured ? "refund" : "void"; }

/// The provider `cfg.payments.provider` names; `simulated` keeps its ledger in `s`.
std::unique_ptr<payment_provider> make_payment_provider(const config& cfg, store& s);

}  // namespace cartd
