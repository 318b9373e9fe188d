#pragma once
// Thin RAII over sqlite3: a pool of connections, each with its statements prepared once and
// kept by the SQL text's address (statements are named constants next to the code using them).
#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "persistence/bounded_pool.hpp"

namespace cartd::sqlite {

class connection {
 public:
  explicit connection(const std::string& path);
  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;
  sqlite3* handle() { return db_; }
  sqlite3_stmt* prepared(const char* sql);
  void exec(const char* sql);
  /// One statement from a named constant or literal, prepared once and kept like any other
  /// (exec parses its text on every call: BEGIN/COMMIT/SAVEPOINT run on every write).
  void run(const char* sql);
  /// How this connection waits for the writer lock (sqlite_db.cpp, wait_for_lock): a group
  /// commit waits patiently (the writes queued meanwhile join its batch), anything else
  /// retries within a millisecond.
  void set_patient(bool patient) { patient_ = patient; }
  bool patient() const { return patient_; }

 private:
  sqlite3* db_ = nullptr;
  bool patient_ = false;
  std::unordered_map<const char*, sqlite3_stmt*> stmts_;
};

/// Makes a connection wait patiently for the writer lock while it lives.
class patience {
 public:
  explicit patience(connection& c) : c_(c) { c_.set_patient(true); }
  ~patience() { c_.set_patient(false); }
  patience(const patience&) = delete;
  patience& operator=(const patience&) = delete;

 private:
  connection& c_;
};

/// A prepared statement in use: binds, steps, and resets itself when it goes out of scope.
class statement {
 public:
  statement(connection& c, const char* sql);
  ~statement();
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;
  statement& bind(int i, std::string_view v);
  statement& bind(int i, std::int64_t v);
  statement& bind_null(int i);
  /// A text that is empty binds as NULL.
  statement& bind_opt(int i, std::string_view v);
  bool step();  ///< true while a row is available
  void run();   ///< steps to completion
  std::string text(int col) const;
  std::int64_t integer(int col) const;
  bool is_null(int col) const;
  int changes() const;

 private:
  connection& conn_;
  sqlite3_stmt* st_;
};

/// The connections to one SQLite file: a bounded_pool (WAL lets readers run beside the one
/// writer; more connections than threads that use them would only wait on the file lock).
class pool {
 public:
  pool(std::string path, int size, std::chrono::milliseconds wait);
  using lease = bounded_pool<connection>::lease;
  lease acquire();
  pool_figures figures() const { return impl_.figures(); }

 private:
  bounded_pool<connection> impl_;
};

/// BEGIN IMMEDIATE … COMMIT, rolled back when left by an exception.
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

}  // namespace cartd::sqlite
