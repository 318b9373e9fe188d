#include "actors/bulkhead.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include <limits>

#include "actors/log_text.hpp"
#include "actors/metrics.hpp"

namespace cartd {

bulkhead::bulkhead(caf::actor_system& sys, metrics& m, std::string name, int workers,
                   int queue_max)
    : name_(std::move(name)), metrics_(m.bulkhead(name_)), queue_max_(queue_max) {
  for (int i = 0; i < workers; ++i) {
    auto slot = std::make_unique<worker_slot>();
    auto* w = slot.get();
    slot->actor = sys.spawn<caf::detached>([this, w](caf::event_based_actor*) -> caf::behavior {
      return {
          [this, w](bulkhead_job& job) {
            started();
            auto t0 = std::chrono::steady_clock::now();
            bool ok = true;
            try {
              job.run();
            } catch (const std::exception& e) {
              ok = false;
              spdlog::error(R"({{"msg":"bulkhead job failed","pool":"{}","error":{}}})", name_,
                            json_quoted(e.what()));
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

std::optional<caf::actor> bulkhead::admit() {
  auto capacity = static_cast<std::int64_t>(workers_.size()) + queue_max_;
  auto seen = admitted_.load();
  do {
    if (seen >= capacity || workers_.empty()) {
      rejected_++;
      metrics_->rejected.Increment();
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
  metrics_->queued.Increment();
  return best->actor;
}

bool bulkhead::submit(std::function<void()> job) {
  auto worker = admit();
  if (!worker) return false;
  caf::anon_send(*worker, bulkhead_job{std::move(job)});
  return true;
}

void bulkhead::started() {
  in_flight_++;
  metrics_->queued.Decrement();
  metrics_->in_flight.Increment();
}

void bulkhead::finished(worker_slot& w, double seconds) {
  metrics_->seconds.Observe(seconds);
  metrics_->in_flight.Decrement();
  in_flight_--;
  w.pending--;
  admitted_--;  // the slot is free before the job counts as completed
  metrics_->completed.Increment();
  completed_++;
}

bulkhead_figures bulkhead::figures() const {
  bulkhead_figures f;
  f.name = name_;
  f.workers = static_cast<int>(workers_.size());
  f.queue_max = queue_max_;
  f.in_flight = in_flight_.load();
  f.queued = std::max<std::int64_t>(0, admitted_.load() - f.in_flight);
  f.rejected = rejected_.load();
  f.completed = completed_.load();
  return f;
}

void bulkhead::stop() {
  for (auto& w : workers_) {
    if (w->actor) caf::anon_send_exit(w->actor, caf::exit_reason::user_shutdown);
    // Drop the handles now: the last reference to an actor must go before its actor system
    // does (called after the HTTP side stopped, so nobody admits a job any more).
    w->actor = nullptr;
  }
}

}  // namespace cartd
