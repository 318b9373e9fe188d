#pragma once
// Thin RAII over sqlite3: a pool of connections, each with its statements prepared once and
// kept by the SQL text's address (statements are named constants next to the code using them).
#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

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

 private:
  sqlite3* db_ = nullptr;
  std::unordered_map<const char*, sqlite3_stmt*> stmts_;
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

class pool {
 public:
  explicit pool(std::string path) : path_(std::move(path)) {}
  class lease {
   public:
    lease(pool& p, std::unique_ptr<connection> c) : pool_(p), c_(std::move(c)) {}
    ~lease() { pool_.release(std::move(c_)); }
    lease(const lease&) = delete;
    lease& operator=(const lease&) = delete;
    connection& operator*() { return *c_; }
    connection* operator->() { return c_.get(); }

   private:
    pool& pool_;
    std::unique_ptr<connection> c_;
  };
  lease acquire();

 private:
  void release(std::unique_ptr<connection> c);
  std::string path_;
  std::mutex mtx_;
  std::vector<std::unique_ptr<connection>> idle_;
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
