#pragma once
// Reconciliation (API.md, Payments; DESIGN.md, Checkout and payments), one thread per node, at
// start-up and every `checkout.reconcile_interval`:
//   - sessions past their expiry are expired and their stock released (exactly once, however
//     many nodes look), and a payment a due session still holds is voided or refunded;
//   - a `processing` session's payments are looked up by reference at the provider: an
//     authorized or captured one completes the order through the session's actor (as process
//     would), and a session whose attempt left no payment goes back to `open`;
//   - cancelled orders whose payment is still authorized or captured are voided or refunded.
// Every node may run it: the store's conditional writes make each step happen once, and every
// provider call carries the same key as the call it repeats.
#include <caf/actor.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

#include "persistence/checkout_records.hpp"

namespace cartd {

class store;
class metrics;
class payment_gateway;
struct checkout_stats;
class catalog_cache;

struct reconcile_figures {
  std::int64_t rounds = 0;
  std::int64_t expired = 0;
  std::int64_t completed = 0;  ///< confirmations sent to sessions
  std::int64_t reopened = 0;
  std::int64_t settled = 0;  ///< payments voided or refunded
  std::int64_t failures = 0;
  std::int64_t last_round_ms = 0;
};

class checkout_reconciler {
 public:
  checkout_reconciler(store& s, metrics& m, payment_gateway& payments, checkout_stats& figures,
                      caf::actor checkouts, catalog_cache* catalog,
                      std::chrono::milliseconds interval, std::chrono::milliseconds payment_timeout);
  ~checkout_reconciler();
  checkout_reconciler(const checkout_reconciler&) = delete;
  checkout_reconciler& operator=(const checkout_reconciler&) = delete;

  /// One round, now, on the calling thread.
  void round();
  reconcile_figures figures() const;
  std::chrono::milliseconds interval() const { return interval_; }

 private:
  void run();
  void expire_due(std::int64_t now);
  void confirm_processing(std::int64_t now);
  void settle_cancelled();
  void capture_authorized(std::int64_t now);
  /// Repeats the give-backs (voids, refunds) remembered and not yet confirmed.
  void give_back_left(std::int64_t now);
  /// One give-back through the breaker; forgotten once the provider confirmed it.
  bool give_back_now(const payment_give_back& g);

  store& store_;
  metrics& stats_;
  payment_gateway& payments_;
  checkout_stats& checkout_figures_;
  caf::actor checkouts_;
  catalog_cache* catalog_;
  std::chrono::milliseconds interval_;
  std::chrono::milliseconds payment_timeout_;
  std::atomic<std::int64_t> rounds_{0}, expired_{0}, completed_{0}, reopened_{0}, settled_{0},
      failures_{0}, last_round_ms_{0};
  std::mutex round_mtx_;
  std::mutex mtx_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace cartd
