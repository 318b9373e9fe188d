#pragma once
// Cache-aside in Redis for catalog reads and session lookups, in front of any store. A cached
// value never outlives its invalidation: every value carries the generation of its key at the
// time it was read from the store, a write bumps the generation after it commits, and a read
// accepts a value only while its generation is current. Writes that could not reach Redis
// make the next successful contact bump a global epoch, which retires every value at once.
// Redis down: reads and writes go to the store; nothing else changes.
#include <memory>
#include <string>

#include "persistence/store.hpp"

namespace cartd {

std::unique_ptr<store> make_caching_store(std::unique_ptr<store> inner, const std::string& redis_url,
                                          std::chrono::milliseconds ttl);

}  // namespace cartd
