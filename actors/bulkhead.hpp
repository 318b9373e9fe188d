#pragma once
// A bulkhead: a fixed number of detached worker actors (a thread each) and a bounded number of
// admitted jobs. A job that finds every worker busy and the queue full is refused at once (the
// caller answers 503 with Retry-After), so a flood of slow work cannot take threads or memory
// from the carts. Two are built per node, each with its own metrics (label `pool`):
//   pricing  — quotes and GET /cart/{id}/totals. A cart change's own answer is priced on the
//              cart's reply path instead: the change has committed by then, and a committed
//              change is always answered.
//   payments — every call to the payment provider (blocking HTTP, bounded by payments.timeout).
#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/event_based_actor.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace cartd {

class metrics;

struct bulkhead_job {
  std::function<void()> run;
};

struct bulkhead_figures {
  std::string name;
  int workers = 0;
  int queue_max = 0;
  std::int64_t in_flight = 0;
  std::int64_t queued = 0;
  std::int64_t rejected = 0;
  std::int64_t completed = 0;
  bool full() const { return in_flight + queued >= workers + queue_max; }
};

struct bulkhead_metrics;

class bulkhead {
 public:
  /// `name` labels its metrics (`cartd_bulkhead_in_flight{pool="<name>"}`, …) and its entry in
  /// /health/detailed `bulkheads`.
  bulkhead(caf::actor_system& sys, metrics& m, std::string name, int workers, int queue_max);
  bulkhead(const bulkhead&) = delete;
  bulkhead& operator=(const bulkhead&) = delete;
  const std::string& name() const { return name_; }

  /// Reserves a slot and names the worker to send the job to (the one with the fewest jobs),
  /// or nothing when the bulkhead is full (counted as rejected). The worker frees the slot.
  std::optional<caf::actor> admit();
  /// Admits and sends `job` (its answer travels in its own closure); false when full.
  bool submit(std::function<void()> job);
  bulkhead_figures figures() const;
  /// Stops the workers and drops their handles, before the actor system goes (jobs still
  /// queued are dropped; their exchanges answer 503). No job may be admitted afterwards.
  void stop();

 private:
  struct worker_slot {
    caf::actor actor;
    std::atomic<std::int64_t> pending{0};
  };
  void started();
  void finished(worker_slot& w, double seconds);

  std::string name_;
  std::shared_ptr<bulkhead_metrics> metrics_;
  int queue_max_;
  std::vector<std::unique_ptr<worker_slot>> workers_;
  std::atomic<std::int64_t> admitted_{0};
  std::atomic<std::int64_t> in_flight_{0};
  std::atomic<std::int64_t> rejected_{0};
  std::atomic<std::int64_t> completed_{0};
};

/// Runs `fn() -> T` on a worker of `pool`; then `k(std::optional<T>)` on `self`. `full` runs
/// instead when the bulkhead refuses the job; a timeout or a dead worker gives `k(nullopt)`.
template <class T, class Self, class Fn, class K, class Full>
void call_bulkhead(Self* self, bulkhead& pool, std::chrono::milliseconds timeout, Fn fn, K k,
                   Full full, bool await = false) {
  auto worker = pool.admit();
  if (!worker) return full();
  auto out = std::make_shared<std::optional<T>>();
  bulkhead_job job{[out, fn = std::move(fn)] { out->emplace(fn()); }};
  auto on_ok = [out, k](bool done) mutable { k(done ? std::move(*out) : std::optional<T>{}); };
  auto on_err = [k](caf::error&) mutable { k(std::optional<T>{}); };
  auto handle = self->request(*worker, timeout, std::move(job));
  // `await` holds the caller's mailbox until the answer (a checkout paying must not interleave).
  if (await)
    handle.await(std::move(on_ok), std::move(on_err));
  else
    handle.then(std::move(on_ok), std::move(on_err));
}

}  // namespace cartd

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(cartd::bulkhead_job)
