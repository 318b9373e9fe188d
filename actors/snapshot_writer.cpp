#include "actors/snapshot_writer.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <deque>

#include "actors/log_text.hpp"
#include "actors/metrics.hpp"

namespace cartd {

namespace {

using batch = std::vector<write_unit>;

/// Runs one transaction at a time on its own thread.
caf::behavior committer(caf::event_based_actor*, store* s, metrics* m) {
  return {
      [s, m](batch& units) -> caf::result<std::vector<write_status>> {
        auto start = std::chrono::steady_clock::now();
        try {
          auto out = s->commit(units);
          std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
          m->snapshot_commit_seconds.Observe(took.count());
          m->snapshot_batch_size.Observe(static_cast<double>(units.size()));
          return out;
        } catch (const std::exception& e) {
          spdlog::error(R"({{"msg":"snapshot commit failed","error":{}}})", json_quoted(e.what()));
          return caf::make_error(caf::sec::runtime_error, "store commit failed");
        }
      },
  };
}

struct pending_write {
  write_unit unit;
  caf::response_promise promise;
};

struct writer_state {
  std::deque<pending_write> queue;
  int in_flight = 0;
  std::vector<caf::actor> committers;
  std::size_t next = 0;
};

void flush(caf::stateful_actor<writer_state>* self, metrics* m, const writer_options& opts) {
  auto& st = self->state;
  while (!st.queue.empty() && st.in_flight < opts.max_in_flight) {
    auto n = std::min<std::size_t>(st.queue.size(), static_cast<std::size_t>(opts.batch_max));
    batch units;
    std::vector<caf::response_promise> promises;
    units.reserve(n);
    promises.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      units.push_back(std::move(st.queue.front().unit));
      promises.push_back(std::move(st.queue.front().promise));
      st.queue.pop_front();
    }
    m->snapshot_queue_depth.Set(static_cast<double>(st.queue.size()));
    ++st.in_flight;
    auto& target = st.committers[st.next++ % st.committers.size()];
    auto done = std::make_shared<std::vector<caf::response_promise>>(std::move(promises));
    self->request(target, caf::infinite, std::move(units))
        .then(
            [self, m, opts, done](std::vector<write_status>& results) {
              for (std::size_t i = 0; i < done->size(); ++i) {
                if (results[i] == write_status::conflict) m->version_conflicts.Increment();
                (*done)[i].deliver(results[i]);
              }
              --self->state.in_flight;
              flush(self, m, opts);
            },
            [self, m, opts, done](caf::error& err) {
              for (auto& p : *done) p.deliver(err);
              --self->state.in_flight;
              flush(self, m, opts);
            });
  }
}

caf::behavior writer(caf::stateful_actor<writer_state>* self, store* s, metrics* m,
                     writer_options opts) {
  for (int i = 0; i < opts.max_in_flight; ++i)
    self->state.committers.push_back(self->spawn<caf::detached + caf::linked>(committer, s, m));
  return {
      [self, m, opts](write_unit& unit) {
        auto promise = self->make_response_promise();
        self->state.queue.push_back(pending_write{std::move(unit), promise});
        m->snapshot_queue_depth.Set(static_cast<double>(self->state.queue.size()));
        flush(self, m, opts);
        return promise;
      },
  };
}

}  // namespace

caf::actor spawn_snapshot_writer(caf::actor_system& sys, store& s, metrics& m,
                                 writer_options opts) {
  return sys.spawn(writer, &s, &m, opts);
}

}  // namespace cartd
