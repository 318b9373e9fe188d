#include "actors/payment_gateway.hpp"

#include <spdlog/spdlog.h>

#include "actors/metrics.hpp"
#include "domain/time.hpp"
#include "domain/token_bucket.hpp"

namespace cartd {

namespace {

std::int64_t steady_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

const char* outcome_name(provider_outcome o) {
  switch (o) {
    case provider_outcome::ok:
      return "ok";
    case provider_outcome::declined:
      return "declined";
    case provider_outcome::failure:
      return "failure";
    case provider_outcome::timeout:
      return "timeout";
  }
  return "failure";
}

}  // namespace

payment_gateway::payment_gateway(std::unique_ptr<payment_provider> provider, bulkhead& pool,
                                 checkout_metrics& m, breaker_settings breaker,
                                 std::chrono::milliseconds call_timeout)
    : provider_(std::move(provider)),
      pool_(pool),
      metrics_(m),
      call_timeout_(call_timeout),
      breaker_(breaker) {}

bool payment_gateway::refusing() const {
  std::lock_guard<std::mutex> guard(mtx_);
  return breaker_.state(steady_now_ms()) == breaker_state::open;
}

int payment_gateway::retry_after_s() const {
  std::lock_guard<std::mutex> guard(mtx_);
  return retry_after_seconds(breaker_.retry_after_ms(steady_now_ms()));
}

breaker_figures payment_gateway::breaker() const {
  std::lock_guard<std::mutex> guard(mtx_);
  auto now = steady_now_ms();
  return breaker_figures{to_string(breaker_.state(now)),
                         breaker_.consecutive_failures(),
                         breaker_.times_opened(),
                         breaker_.retry_after_ms(now),
                         breaker_.settings().failures_to_open,
                         breaker_.settings().cooldown_ms};
}

void payment_gateway::publish_state(std::int64_t now) {  // with mtx_ held
  auto s = breaker_.state(now);
  metrics_.breaker_state.Set(s == breaker_state::closed ? 0 : s == breaker_state::open ? 1 : 2);
}

gateway_result payment_gateway::run(const std::string& op,
                                    const std::function<provider_result(payment_provider&)>& fn,
                                    const std::string& trace_id) {
  {
    std::lock_guard<std::mutex> guard(mtx_);
    if (!breaker_.allow(steady_now_ms())) {
      metrics_.payment_calls.Add({{"operation", op}, {"outcome", "refused"}}).Increment();
      return gateway_result{gateway_result::kind::breaker_open, {}};
    }
  }
  auto t0 = std::chrono::steady_clock::now();
  provider_result r;
  try {
    r = fn(*provider_);
  } catch (const std::exception& e) {
    // The simulated provider's ledger lives in the store: a store failure is a provider failure.
    r = provider_result{provider_outcome::failure, {}, e.what()};
  }
  std::chrono::duration<double> took = std::chrono::steady_clock::now() - t0;
  metrics_.payment_seconds
      .Add({{"operation", op}},
           prometheus::Histogram::BucketBoundaries{0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30})
      .Observe(took.count());
  metrics_.payment_calls.Add({{"operation", op}, {"outcome", outcome_name(r.outcome)}}).Increment();
  bool failed = r.outcome == provider_outcome::failure || r.outcome == provider_outcome::timeout;
  if (failed) {
    if (trace_id.empty())
      spdlog::warn(R"({{"msg":"payment call failed","operation":"{}","outcome":"{}"}})", op,
                   outcome_name(r.outcome));
    else
      spdlog::warn(R"({{"msg":"payment call failed","operation":"{}","outcome":"{}","traceId":"{}"}})",
                   op, outcome_name(r.outcome), trace_id);
  }
  {
    std::lock_guard<std::mutex> guard(mtx_);
    auto now = steady_now_ms();
    auto opened_before = breaker_.times_opened();
    if (failed) breaker_.on_failure(now);
    else breaker_.on_success(now);
    if (breaker_.times_opened() > opened_before) metrics_.breaker_opened.Increment();
    publish_state(now);
  }
  return gateway_result{gateway_result::kind::answered, r};
}

std::optional<std::vector<provider_payment>> payment_gateway::lookup_here(
    const std::string& reference) {
  std::optional<std::vector<provider_payment>> found;
  auto g = run("lookup", [&found, &reference](payment_provider& p) {
    found = p.find_by_reference(reference);
    return found ? provider_result{provider_outcome::ok, {}, ""}
                 : provider_result{provider_outcome::failure, {}, "lookup failed"};
  });
  if (g.how != gateway_result::kind::answered) return std::nullopt;
  return found;
}

}  // namespace cartd
