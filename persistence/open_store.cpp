#include "persistence/pg_store.hpp"
#include "persistence/sqlite_store.hpp"

namespace cartd {

std::unique_ptr<store> open_store(const std::string& url, const store_options& opts) {
  const std::string sqlite_prefix = "sqlite://";
  if (url.rfind(sqlite_prefix, 0) == 0) return make_sqlite_store(url.substr(sqlite_prefix.size()));
  if (url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0)
    return make_pg_store(url, opts.pool_size, opts.pool_wait);
  throw store_error("unsupported store url (sqlite:// or postgresql://): " + url);
}

}  // namespace cartd
