#include "domain/token_bucket.hpp"

#include <algorithm>

namespace cartd {

namespace {
constexpr std::int64_t k_milli = 1000;

/// The milli-tokens `b` holds at `now_ms` (a clock that went back refills nothing): rate tokens
/// per second = rate milli-tokens per millisecond, never above the burst. The gap is clamped
/// first so that a bucket idle for years cannot overflow.
std::int64_t refilled(const token_bucket& b, std::int64_t now_ms, std::int64_t rate,
                      std::int64_t burst) {
  const std::int64_t cap = burst * k_milli;
  if (now_ms <= b.last_ms) return b.milli_tokens;
  std::int64_t gap = std::min(now_ms - b.last_ms, cap / rate + 1);
  return std::min(cap, b.milli_tokens + gap * rate);
}
}

token_bucket full_bucket(std::int64_t burst, std::int64_t now_ms) {
  return token_bucket{burst * k_milli, now_ms};
}

bucket_verdict take_token(token_bucket& b, std::int64_t now_ms, std::int64_t rate,
                          std::int64_t burst) {
  if (now_ms > b.last_ms) {
    b.milli_tokens = refilled(b, now_ms, rate, burst);
    b.last_ms = now_ms;
  }
  if (b.milli_tokens >= k_milli) {
    b.milli_tokens -= k_milli;
    return bucket_verdict{true, 0};
  }
  std::int64_t missing = k_milli - b.milli_tokens;
  return bucket_verdict{false, (missing + rate - 1) / rate};
}

bool bucket_full_at(const token_bucket& b, std::int64_t now_ms, std::int64_t rate,
                    std::int64_t burst) {
  return refilled(b, now_ms, rate, burst) >= burst * k_milli;
}

int retry_after_seconds(std::int64_t retry_after_ms) {
  return static_cast<int>(std::max<std::int64_t>(1, (retry_after_ms + 999) / 1000));
}

}  // namespace cartd
