#pragma once
// Products recently read from the store, shared by all cart actors of a node so that an
// add-item costs no store round trip. Entries live `ttl` at most and are dropped at once when
// this node writes the product. (Another node's write is seen within `ttl`; checkout re-prices
// and reserves against the store, so a stale price or stock figure never reaches an order.)
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>

#include "domain/catalog.hpp"

namespace cartd {

class catalog_cache {
 public:
  explicit catalog_cache(std::chrono::milliseconds ttl) : ttl_ms_(ttl.count()) {}

  std::shared_ptr<const product> get(const product_id& id, std::int64_t now_ms) const {
    if (ttl_ms_ <= 0) return nullptr;
    std::shared_lock<std::shared_mutex> guard(mtx_);
    auto it = entries_.find(id.value);
    if (it == entries_.end() || it->second.expires_at_ms <= now_ms) return nullptr;
    return it->second.value;
  }

  void put(const product& p, std::int64_t now_ms) {
    if (ttl_ms_ <= 0) return;
    std::unique_lock<std::shared_mutex> guard(mtx_);
    if (entries_.size() >= k_max_entries) entries_.clear();
    entries_[p.id.value] = entry{std::make_shared<const product>(p), now_ms + ttl_ms_};
  }

  void invalidate(const product_id& id) {
    std::unique_lock<std::shared_mutex> guard(mtx_);
    entries_.erase(id.value);
  }

 private:
  static constexpr std::size_t k_max_entries = 100'000;
  struct entry {
    std::shared_ptr<const product> value;
    std::int64_t expires_at_ms = 0;
  };
  std::int64_t ttl_ms_;
  mutable std::shared_mutex mtx_;
  std::unordered_map<std::string, entry> entries_;
};

}  // namespace cartd
