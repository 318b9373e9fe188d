#pragma once
// Token buckets shared by every node, kept in Redis: one atomic script per decision, run on
// Redis's clock so that nodes agree, all pending decisions pipelined in one round trip. The
// arithmetic is domain/token_bucket.cpp's, in Lua. Blocking: one dedicated thread calls it.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "domain/token_bucket.hpp"

namespace cartd {

class shared_buckets {
 public:
  virtual ~shared_buckets() = default;
  /// One verdict per principal, in order; an entry is empty when Redis did not decide that one
  /// (decide it locally). Nothing at all when Redis could not be reached.
  virtual std::optional<std::vector<std::optional<bucket_verdict>>> take(
      const std::vector<std::string>& principals, std::int64_t rate, std::int64_t burst) = 0;
  /// True when Redis answers.
  virtual bool ping() = 0;
  /// True while the connection is open.
  virtual bool up() const = 0;
};

/// Buckets in the Redis at `url` (redis://host:port).
std::unique_ptr<shared_buckets> make_redis_buckets(const std::string& url);

}  // namespace cartd
