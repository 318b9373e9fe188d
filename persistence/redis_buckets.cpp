#include "persistence/redis_buckets.hpp"

#include <chrono>

#include "persistence/redis_client.hpp"

namespace cartd {

namespace {

/// KEYS[1] bucket; ARGV rate (tokens/s), burst. domain/token_bucket.cpp's sums in thousandths
/// of a token on Redis's clock. Returns {allowed (0/1), retry after in ms}.
constexpr const char* k_bucket_script = R"lua(
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cap = burst * 1000
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local b = redis.call('HMGET', KEYS[1], 'mt', 'ts')
local mt = tonumber(b[1]) or cap
local ts = tonumber(b[2]) or now
if now > ts then
  mt = math.min(cap, mt + math.min(now - ts, math.floor(cap / rate) + 1) * rate)
  ts = now
end
local allowed, retry = 0, 0
if mt >= 1000 then
  mt = mt - 1000
  allowed = 1
else
  retry = math.floor((1000 - mt + rate - 1) / rate)
end
redis.call('HSET', KEYS[1], 'mt', tostring(mt), 'ts', tostring(ts))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return {allowed, retry}
)lua";

class redis_buckets final : public shared_buckets {
 public:
  explicit redis_buckets(const std::string& url) : redis_(url, std::chrono::milliseconds(200)) {}

  std::optional<std::vector<std::optional<bucket_verdict>>> take(
      const std::vector<std::string>& principals, std::int64_t rate,
      std::int64_t burst) override {
    if (script_sha_.empty()) {
      auto sha = redis_.command({"SCRIPT", "LOAD", k_bucket_script});
      if (!sha || sha->type != redis_value::kind::text) return std::nullopt;
      script_sha_ = sha->text;
    }
    std::vector<std::vector<std::string>> cmds;
    cmds.reserve(principals.size());
    for (const auto& p : principals) {
      cmds.push_back({"EVALSHA", script_sha_, "1", "cartd:rl:" + p, std::to_string(rate),
                      std::to_string(burst)});
    }
    auto replies = redis_.pipeline(cmds);
    if (!replies) return std::nullopt;
    std::vector<std::optional<bucket_verdict>> out(principals.size());
    for (std::size_t i = 0; i < out.size() && i < replies->size(); ++i) {
      const auto& r = (*replies)[i];
      if (r.type == redis_value::kind::array && r.items.size() == 2) {
        out[i] = bucket_verdict{r.items[0].integer == 1, r.items[1].integer};
      } else if (r.type == redis_value::kind::error && r.text.rfind("NOSCRIPT", 0) == 0) {
        script_sha_.clear();  // Redis restarted: load the script again next time
      }
    }
    return out;
  }

  bool ping() override {
    auto pong = redis_.command({"PING"});
    return pong.has_value() && pong->type == redis_value::kind::text;
  }

  bool up() const override { return redis_.up(); }

 private:
  redis_connection redis_;
  std::string script_sha_;
};

}  // namespace

std::unique_ptr<shared_buckets> make_redis_buckets(const std::string& url) {
  return std::make_unique<redis_buckets>(url);
}

}  // namespace cartd
