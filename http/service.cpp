#include "http/service.hpp"

namespace cartd {

namespace {
/// Bounds the cache; past it, the cache starts over (sessions are reloaded from the store).
constexpr std::size_t k_max_cached_sessions = 100'000;
}  // namespace

std::optional<session> session_cache::get(const std::string& token_hash, std::int64_t now_ms) {
  std::lock_guard<std::mutex> guard(mtx_);
  auto it = by_hash_.find(token_hash);
  if (it == by_hash_.end()) return std::nullopt;
  if (it->second.value.expired(now_ms) || now_ms >= it->second.fresh_until_ms) {
    by_hash_.erase(it);
    return std::nullopt;
  }
  return it->second.value;
}

void session_cache::put(const session& s, std::int64_t now_ms) {
  std::lock_guard<std::mutex> guard(mtx_);
  // Stale entries go once per freshness period: without it every session ever resolved stayed
  // until the 100 000 cap (memory that grows with every guest session a node has seen).
  if (now_ms - last_sweep_ms_ >= k_session_cache_ms) {
    last_sweep_ms_ = now_ms;
    for (auto i = by_hash_.begin(); i != by_hash_.end();)
      i = now_ms >= i->second.fresh_until_ms ? by_hash_.erase(i) : std::next(i);
  }
  if (by_hash_.size() >= k_max_cached_sessions) by_hash_.clear();
  by_hash_[s.token_hash] = entry{s, now_ms + k_session_cache_ms};
}

std::size_t session_cache::size() {
  std::lock_guard<std::mutex> guard(mtx_);
  return by_hash_.size();
}

void session_cache::drop_session(const std::string& session_id) {
  std::lock_guard<std::mutex> guard(mtx_);
  for (auto it = by_hash_.begin(); it != by_hash_.end();) {
    it = it->second.value.id == session_id ? by_hash_.erase(it) : std::next(it);
  }
}

}  // namespace cartd
