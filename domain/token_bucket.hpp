#pragma once
// The token bucket of the rate limiter, as pure arithmetic on integers: a bucket holds up to
// `burst` tokens, refills at `rate` tokens per second, and a request takes one. Time is passed
// in (milliseconds of any monotonic clock), so tests need no clock. The Redis script in
// persistence/redis_buckets.cpp does the same sums on Redis's clock for buckets shared by nodes.
#include <cstdint>

namespace cartd {

struct token_bucket {
  std::int64_t milli_tokens = 0;  ///< thousandths of a token: refills are exact
  std::int64_t last_ms = 0;       ///< when it was last refilled
};

struct bucket_verdict {
  bool allowed = false;
  std::int64_t retry_after_ms = 0;  ///< refused: when one token will be there again
};

/// A full bucket, first seen at `now_ms`.
token_bucket full_bucket(std::int64_t burst, std::int64_t now_ms);

/// Refills `b` for the time since it was last refilled (never above `burst`; a clock that went
/// back refills nothing), then takes one token if there is one. `rate` and `burst` are > 0.
bucket_verdict take_token(token_bucket& b, std::int64_t now_ms, std::int64_t rate,
                          std::int64_t burst);

/// True when `b` would be full again at `now_ms`: such a bucket decides exactly as a missing
/// one (a fresh full bucket), so a holder of many buckets may forget it.
bool bucket_full_at(const token_bucket& b, std::int64_t now_ms, std::int64_t rate,
                    std::int64_t burst);

/// Whole seconds for Retry-After: at least 1, rounded up.
int retry_after_seconds(std::int64_t retry_after_ms);

}  // namespace cartd
