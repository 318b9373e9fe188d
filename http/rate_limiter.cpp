#include "http/rate_limiter.hpp"

#include <cmath>

#include "actors/metrics.hpp"
#include "persistence/redis_client.hpp"

namespace cartd {

namespace {

/// KEYS[1] bucket; ARGV rate (tokens/s), burst. Time comes from Redis, so every node agrees.
/// Returns {allowed (0/1), retry after in ms}.
constexpr const char* k_bucket_script = R"lua(
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(b[1]) or burst
local ts = tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate / 1000)
local allowed, retry = 0, 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  retry = math.ceil((1 - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return {allowed, retry}
)lua";

constexpr std::size_t k_max_local_buckets = 100'000;

int seconds_up(long long ms) { return static_cast<int>(std::max(1LL, (ms + 999) / 1000)); }

}  // namespace

rate_limiter::rate_limiter(const config& cfg, metrics& m)
    : enabled_(cfg.rate_limit.enabled),
      rps_(cfg.rate_limit.rps),
      burst_(cfg.rate_limit.burst),
      redis_url_(cfg.redis.url),
      stats_(m) {
  if (enabled_ && !redis_url_.empty()) {
    redis_ = std::make_unique<redis_connection>(redis_url_, std::chrono::milliseconds(200));
    thread_ = std::thread([this] { run(); });
  }
}

rate_limiter::~rate_limiter() {
  {
    std::lock_guard<std::mutex> guard(mtx_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::string rate_limiter::mode() const {
  if (!enabled_) return "off";
  if (redis_url_.empty()) return "local";
  return redis_up_ ? "redis" : "local (redis down)";
}

void rate_limiter::admit(const std::string& principal, decision_fn then) {
  if (!enabled_) return then(true, 0);
  if (redis_url_.empty()) {
    int retry = 0;
    bool ok = local_admit(principal, retry);
    stats_.rate_limit_decision(ok, "local");
    return then(ok, retry);
  }
  {
    std::lock_guard<std::mutex> guard(mtx_);
    queue_.push_back(pending{principal, std::move(then)});
  }
  cv_.notify_one();
}

bool rate_limiter::local_admit(const std::string& principal, int& retry_after_s) {
  auto now = std::chrono::steady_clock::now();
  std::lock_guard<std::mutex> guard(local_mtx_);
  if (local_.size() >= k_max_local_buckets) local_.clear();
  auto [it, fresh] = local_.try_emplace(principal, bucket{burst_, now});
  auto& b = it->second;
  if (!fresh) {
    std::chrono::duration<double> dt = now - b.last;
    b.tokens = std::min(burst_, b.tokens + dt.count() * rps_);
    b.last = now;
  }
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return true;
  }
  retry_after_s = seconds_up(static_cast<long long>(std::ceil((1 - b.tokens) * 1000 / rps_)));
  return false;
}

void rate_limiter::run() {
  std::unique_lock<std::mutex> lock(mtx_);
  while (true) {
    // Idle: ping every second so that health reports Redis as it is, not as it last was.
    if (!cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stop_ || !queue_.empty(); })) {
      lock.unlock();
      auto pong = redis_->command({"PING"});
      redis_up_ = pong.has_value() && pong->type == redis_value::kind::text;
      stats_.redis_up.Set(redis_up_ ? 1 : 0);
      lock.lock();
      continue;
    }
    if (stop_ && queue_.empty()) return;
    std::deque<pending> batch;
    batch.swap(queue_);
    lock.unlock();
    decide_batch(batch);
    lock.lock();
  }
}

void rate_limiter::decide_batch(std::deque<pending>& batch) {
  stats_.rate_limit_batch(static_cast<double>(batch.size()));
  std::optional<std::vector<redis_value>> replies;
  if (script_sha_.empty()) {
    if (auto sha = redis_->command({"SCRIPT", "LOAD", k_bucket_script});
        sha && sha->type == redis_value::kind::text) {
      script_sha_ = sha->text;
    }
  }
  if (!script_sha_.empty()) {
    std::vector<std::vector<std::string>> cmds;
    cmds.reserve(batch.size());
    for (const auto& p : batch) {
      cmds.push_back({"EVALSHA", script_sha_, "1", "cartd:rl:" + p.principal,
                      std::to_string(rps_), std::to_string(burst_)});
    }
    replies = redis_->pipeline(cmds);
  }
  redis_up_ = redis_->up() && replies.has_value();
  stats_.redis_up.Set(redis_up_ ? 1 : 0);
  for (std::size_t i = 0; i < batch.size(); ++i) {
    auto& p = batch[i];
    const redis_value* r = replies ? &(*replies)[i] : nullptr;
    if (r && r->type == redis_value::kind::array && r->items.size() == 2) {
      bool ok = r->items[0].integer == 1;
      stats_.rate_limit_decision(ok, "redis");
      p.then(ok, ok ? 0 : seconds_up(r->items[1].integer));
      continue;
    }
    if (r && r->type == redis_value::kind::error && r->text.rfind("NOSCRIPT", 0) == 0)
      script_sha_.clear();  // Redis restarted: load the script again next time
    int retry = 0;
    bool ok = local_admit(p.principal, retry);  // Redis unset for this one: decide here
    stats_.rate_limit_decision(ok, "local");
    p.then(ok, retry);
  }
}

}  // namespace cartd
