#include "domain/circuit_breaker.hpp"

#include <algorithm>

namespace cartd {

const char* to_string(breaker_state s) {
  switch (s) {
    case breaker_state::closed:
      return "closed";
    case breaker_state::open:
      return "open";
    case breaker_state::half_open:
      return "half_open";
  }
  return "closed";
}

bool circuit_breaker::allow(std::int64_t now_ms) {
  switch (state_) {
    case breaker_state::closed:
      return true;
    case breaker_state::half_open:
      return false;  // the one trial is still out
    case breaker_state::open:
      if (elapsed_since_open(now_ms) < settings_.cooldown_ms) return false;
      state_ = breaker_state::half_open;  // this caller carries the trial
      return true;
  }
  return false;
}

void circuit_breaker::on_success(std::int64_t /*now_ms*/) {
  // A success that lands while open belongs to a call let through before it opened; it says
  // the provider answered then, not that it has recovered since, so the cooldown stands.
  if (state_ == breaker_state::open) return;
  state_ = breaker_state::closed;
  failures_ = 0;
}

void circuit_breaker::on_failure(std::int64_t now_ms) {
  switch (state_) {
    case breaker_state::closed:
      ++failures_;
      if (failures_ >= std::max(1, settings_.failures_to_open)) open(now_ms);
      return;
    case breaker_state::half_open:
      ++failures_;
      open(now_ms);
      return;
    case breaker_state::open:
      // A straggler from before it opened: counted, but it must not stretch the cooldown, or a
      // slow provider's backlog of timeouts would keep the breaker shut long after it recovered.
      ++failures_;
      return;
  }
}

breaker_state circuit_breaker::state(std::int64_t now_ms) const {
  if (state_ == breaker_state::open && elapsed_since_open(now_ms) >= settings_.cooldown_ms)
    return breaker_state::half_open;
  return state_;
}

std::int64_t circuit_breaker::retry_after_ms(std::int64_t now_ms) const {
  if (state_ != breaker_state::open) return 0;
  // Clamped both ways: a clock read that went back must not promise more than one cooldown.
  return std::clamp(settings_.cooldown_ms - elapsed_since_open(now_ms), std::int64_t{0},
                    std::max(std::int64_t{0}, settings_.cooldown_ms));
}

void circuit_breaker::open(std::int64_t now_ms) {
  state_ = breaker_state::open;
  opened_at_ms_ = now_ms;
  ++times_opened_;
}

std::int64_t circuit_breaker::elapsed_since_open(std::int64_t now_ms) const {
  return now_ms - opened_at_ms_;
}

}  // namespace cartd
