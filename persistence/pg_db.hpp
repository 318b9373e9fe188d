#pragma once
// Thin RAII over libpq: a bounded pool of connections, each preparing named statements once.
#include <libpq-fe.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "persistence/bounded_pool.hpp"

namespace cartd::pg {

/// A named statement: prepared on each connection the first time it is used there.
struct query {
  const char* name;
  const char* sql;
};

class result {
 public:
  explicit result(PGresult* r) : r_(r) {}
  ~result() { PQclear(r_); }
  result(result&& o) noexcept : r_(o.r_) { o.r_ = nullptr; }
  result(const result&) = delete;
  result& operator=(const result&) = delete;
  int rows() const { return PQntuples(r_); }
  bool null(int row, int col) const { return PQgetisnull(r_, row, col) != 0; }
  std::string text(int row, int col) const;
  std::int64_t integer(int row, int col) const;
  int affected() const;

 private:
  PGresult* r_;
};

class connection {
 public:
  explicit connection(const std::string& url);
  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;
  bool healthy() const { return PQstatus(conn_) == CONNECTION_OK; }
  /// Runs a named statement with text parameters (nullopt: NULL). Throws store_error.
  result run(const query& q, const std::vector<std::optional<std::string>>& params);
  result exec(const char* sql);

 private:
  PGconn* conn_ = nullptr;
  std::unordered_set<std::string> prepared_;
};

/// The PostgreSQL connections of a store: a bounded_pool that throws store_error when no
/// connection came free in time.
class pool {
 public:
  pool(std::string url, int size, std::chrono::milliseconds wait);
  using lease = bounded_pool<connection>::lease;
  lease acquire();
  pool_figures figures() const { return impl_.figures(); }

 private:
  bounded_pool<connection> impl_;
};

/// BEGIN … COMMIT; rolled back when left by an exception.
class transaction {
 public:
  explicit transaction(connection& c);
  ~transaction();
  transaction(const transaction&) = delete;
  transaction& operator=(const transaction&) = delete;
  void commit();

 private:
  connection& c_;
  bool done_ = false;
};

/// A text[] (or bigint[]) literal for unnest(): {"a","b",NULL}.
std::string array_literal(const std::vector<std::optional<std::string>>& items);

}  // namespace cartd::pg
