#include "actors/store_pool.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/log_text.hpp"
#include "actors/metrics.hpp"

namespace cartd {

namespace {

caf::behavior store_worker(caf::event_based_actor*, store* s, metrics* m) {
  return {
      [s, m](store_job& job) {
        m->store_jobs_in_flight.Increment();
        bool ok = true;
        try {
          job.run(*s);
        } catch (const std::exception& e) {
          ok = false;
          m->store_job_failures.Increment();
          spdlog::error(R"({{"msg":"store call failed","error":{}}})", json_quoted(e.what()));
        }
        m->store_jobs_in_flight.Decrement();
        return ok;
      },
  };
}

}  // namespace

caf::actor spawn_store_pool(caf::actor_system& sys, store& s, metrics& m, int workers) {
  auto factory = [&sys, &s, &m] {
    return sys.spawn<caf::detached>(store_worker, &s, &m);
  };
  return caf::actor_pool::make(sys.dummy_execution_unit(), static_cast<std::size_t>(workers),
                               factory, caf::actor_pool::round_robin());
}

}  // namespace cartd
