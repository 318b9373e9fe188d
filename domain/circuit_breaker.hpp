#pragma once
// The circuit breaker in front of the payment provider, as a pure state machine: time is passed
// in (milliseconds of a monotonic clock), so tests drive it without sleeping and the actor that
// owns it decides how to lock it. API.md, Payments: `payments.breaker_failures` consecutive
// failures of the provider open it for `payments.breaker_cooldown`; then one trial call decides.
// Only the caller knows what a failure of the provider is (a 5xx, a refused connection, a
// timeout; never a decline), so it reports outcomes and this only counts them.
#include <cstdint>

namespace cartd {

enum class breaker_state { closed, open, half_open };
/// "closed", "open", "half_open": the words of `/health/detailed` components.circuitBreakers.
const char* to_string(breaker_state s);

struct breaker_settings {
  int failures_to_open = 5;          ///< consecutive failures that open it; below 1 acts as 1
  std::int64_t cooldown_ms = 30000;  ///< how long it stays open before a trial call
};

/// A value type, not thread-safe: its owner serialises calls. Every `allow` that answered true
/// must be followed by exactly one `on_success` or `on_failure` (a call abandoned for any reason
/// is a failure); otherwise a half-open breaker keeps waiting for its trial and refuses all.
class circuit_breaker {
 public:
  explicit circuit_breaker(breaker_settings settings) : settings_(settings) {}

  /// May a call go to the provider now? Closed: yes. Open: no until the cooldown has elapsed,
  /// then it turns half-open and lets exactly one trial through; no more while that trial is out.
  bool allow(std::int64_t now_ms);
  /// A call answered. Closes a half-open breaker and forgets earlier failures.
  void on_success(std::int64_t now_ms);
  /// A call failed. Closed: counts, and opens at the threshold. Half-open: the trial failed,
  /// so it opens again with a fresh cooldown.
  void on_failure(std::int64_t now_ms);

  /// As a caller would see it now: open with its cooldown elapsed reads half_open.
  breaker_state state(std::int64_t now_ms) const;
  /// Open: time left in the cooldown (never below 0 nor above the cooldown); otherwise 0.
  std::int64_t retry_after_ms(std::int64_t now_ms) const;

  int consecutive_failures() const { return failures_; }
  std::int64_t times_opened() const { return times_opened_; }
  const breaker_settings& settings() const { return settings_; }

 private:
  void open(std::int64_t now_ms);
  std::int64_t elapsed_since_open(std::int64_t now_ms) const;

  breaker_settings settings_;
  breaker_state state_ = breaker_state::closed;  ///< half_open only while its trial is out
  int failures_ = 0;
  std::int64_t opened_at_ms_ = 0;
  std::int64_t times_opened_ = 0;
};

}  // namespace cartd
