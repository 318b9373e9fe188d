#pragma once
#include <memory>
#include <string>

#include "persistence/store.hpp"

namespace cartd {

/// The embedded default store: one SQLite file in WAL mode with synchronous=FULL.
std::unique_ptr<store> make_sqlite_store(const std::string& path);

}  // namespace cartd
