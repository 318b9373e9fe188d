#include "http/rate_limiter.hpp"

#include <cmath>

#include "actors/metrics.hpp"
#include "persistence/redis_buckets.hpp"

namespace cartd {

namespace {

constexpr std::size_t k_max_local_buckets = 100'000;
/// How often the local buckets are swept of full ones (a full bucket is the same as none).
/// Without the sweep every principal ever seen kept its bucket until the 100 000 cap (about
/// 10 MB for a node that sees many one-time guests; the soak itself runs with limits off).
constexpr std::int64_t k_sweep_every_ms = 1000;

std::int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

rate_limiter::rate_limiter(const config& cfg, metrics& m)
    : enabled_(cfg.rate_limit.enabled),
      rps_(cfg.rate_limit.rps),
      burst_(cfg.rate_limit.burst),
      redis_url_(cfg.redis.url),
      stats_(m) {
  if (enabled_ && !redis_url_.empty()) {
    shared_ = make_redis_buckets(redis_url_);
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

std::size_t rate_limiter::local_buckets() {
  std::lock_guard<std::mutex> guard(local_mtx_);
  return local_.size();
}

bool rate_limiter::local_admit(const std::string& principal, int& retry_after_s) {
  auto now = steady_ms();
  std::lock_guard<std::mutex> guard(local_mtx_);
  if (now - last_sweep_ms_ >= k_sweep_every_ms) {
    last_sweep_ms_ = now;
    for (auto i = local_.begin(); i != local_.end();)
      i = bucket_full_at(i->second, now, rps_, burst_) ? local_.erase(i) : std::next(i);
  }
  if (local_.size() >= k_max_local_buckets) local_.clear();
  auto it = local_.try_emplace(principal, full_bucket(burst_, now)).first;
  auto v = take_token(it->second, now, rps_, burst_);
  if (!v.allowed) retry_after_s = retry_after_seconds(v.retry_after_ms);
  return v.allowed;
}

void rate_limiter::run() {
  std::unique_lock<std::mutex> lock(mtx_);
  while (true) {
    // Idle: ping every second so that health reports Redis as it is, not as it last was.
    if (!cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stop_ || !queue_.empty(); })) {
      lock.unlock();
      redis_up_ = shared_->ping();
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
  std::vector<std::string> principals;
  principals.reserve(batch.size());
  for (const auto& p : batch) principals.push_back(p.principal);
  auto verdicts = shared_->take(principals, rps_, burst_);
  redis_up_ = shared_->up() && verdicts.has_value();
  stats_.redis_up.Set(redis_up_ ? 1 : 0);
  for (std::size_t i = 0; i < batch.size(); ++i) {
    auto& p = batch[i];
    if (verdicts && (*verdicts)[i]) {
      const auto& v = *(*verdicts)[i];
      stats_.rate_limit_decision(v.allowed, "redis");
      p.then(v.allowed, v.allowed ? 0 : retry_after_seconds(v.retry_after_ms));
      continue;
    }
    int retry = 0;
    bool ok = local_admit(p.principal, retry);  // Redis did not decide this one: decide here
    stats_.rate_limit_decision(ok, "local");
    p.then(ok, retry);
  }
}

}  // namespace cartd
