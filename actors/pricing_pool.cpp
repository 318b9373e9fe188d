#include "actors/pricing_pool.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include <limits>

#include "actors/metrics.hpp"

namespace cartd {

pricing_pool::pricing_pool(caf::actor_system& sys, metrics& m, int workers, int queue_max)
    : metrics_(m), queue_max_(queue_max) {
  for (int i = 0; i < workers; ++i) {
    auto slot = std::make_unique<worker_slot>();
    auto* w = slot.get();
    slot->actor = sys.spawn<caf::detached>([this, w](caf::event_based_actor*) -> caf::behavior {
      return {
          [this, w](pricing_job& job) {
            started();
            auto t0 = std::chrono::steady_clock::now();
            bool ok = true;
            try {
              job.run();
            } catch (const std::exception& e) {
              ok = false;
              spdlog::error(R"({{"msg":"pricing job failed","error":"{}"}})", e.what());
            }
            std::chrono::duration<double> took = std::chrono::steady_clock::now() - t0;
            finished(*w, took.count());
            return ok;
          },
      };
    });
    workers_.push_back(std::move(slot));
  }
}

std::optional<caf::actor> pricing_pool::admit() {
  auto capacity = static_cast<std::int64_t>(workers_.size()) + queue_max_;
  auto seen = admitted_.load();
  do {
    if (seen >= capacity || workers_.empty()) {
      rejected_++;
      metrics_.pricing_rejected.Increment();
      return std::nullopt;
    }
  } while (!admitted_.compare_exchange_weak(seen, seen + 1));
  worker_slot* best = nullptr;
  auto fewest = std::numeric_limits<std::int64_t>::max();
  for (auto& w : workers_) {
    auto p = w->pending.load();
    if (p < fewest) fewest = p, best = w.get();
  }
  if (!best || !best->actor) {  // stopped (or no worker at all)
    admitted_--;
    return std::nullopt;
  }
  best->pending++;
  metrics_.pricing_queued.Increment();
  return best->actor;
}

bool pricing_pool::submit(std::function<void()> job) {
  auto worker = admit();
  if (!worker) return false;
  caf::anon_send(*worker, pricing_job{std::move(job)});
  return true;
}

void pricing_pool::started() {
  in_flight_++;
  metrics_.pricing_queued.Decrement();
  metrics_.pricing_in_flight.Increment();
}

void pricing_pool::finished(worker_slot& w, double seconds) {
  metrics_.pricing_seconds.Observe(seconds);
  metrics_.pricing_in_flight.Decrement();
  in_flight_--;
  w.pending--;
  admitted_--;  // the slot is free before the job counts as completed
  metrics_.pricing_completed.Increment();
  completed_++;
}

pricing_figures pricing_pool::figures() const {
  pricing_figures f;
  f.workers = static_cast<int>(workers_.size());
  f.queue_max = queue_max_;
  f.in_flight = in_flight_.load();
  f.queued = std::max<std::int64_t>(0, admitted_.load() - f.in_flight);
  f.rejected = rejected_.load();
  f.completed = completed_.load();
  return f;
}

void pricing_pool::stop() {
  for (auto& w : workers_) {
    if (w->actor) caf::anon_send_exit(w->actor, caf::exit_reason::user_shutdown);
    // Drop the handles now: the last reference to an actor must go before its actor system
    // does (called after the HTTP side stopped, so nobody admits a job any more).
    w->actor = nullptr;
  }
}

}  // namespace cartd
