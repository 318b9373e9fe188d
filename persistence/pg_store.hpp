#pragma once
#include <chrono>
#include <memory>
#include <string>

#include "persistence/store.hpp"

namespace cartd {

/// The production store: PostgreSQL through a bounded pool of libpq connections.
std::unique_ptr<store> make_pg_store(const std::string& url, int pool_size,
                                     std::chrono::milliseconds pool_wait);

}  // namespace cartd
