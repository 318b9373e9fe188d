#include "persistence/sqlite_db.hpp"

#include <algorithm>
#include <chrono>
#include <thread>

#include "persistence/store.hpp"

namespace cartd::sqlite {

namespace {
/// Waiting for SQLite's one writer lock, which a group commit here holds for about a
/// millisecond (its fsync included). SQLite's own busy timeout sleeps 1, 2, 5, 10, 15, 20, 25 …
/// 100 ms between attempts: a checkout or session transaction that misses the lock once then
/// sleeps far longer than the wait it needs. Those retry after 50, 100, 200, 400, 800 µs and
/// then every millisecond. A group commit (patient) keeps SQLite's schedule: while it waits,
/// the writes queued behind it join its batch, and fewer, larger commits cost less CPU per
/// write. Measured in one run against SQLite's schedule for everything (bench/run,
/// bench/run-journey): fast retries for every transaction made the journey +35 % orders/s but
/// add-item -10 % req/s at +17 % CPU per add; hence the two schedules. Both give up after ~5 s.
int wait_for_lock(void* arg, int attempt) {
  constexpr int k_give_up_ms = 5000;
  if (static_cast<const connection*>(arg)->patient()) {
    static constexpr int delays[] = {1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100};
    constexpr int n = sizeof delays / sizeof delays[0];
    int waited = 0;
    for (int i = 0; i < std::min(attempt, n); ++i) waited += delays[i];
    if (attempt > n) waited += (attempt - n) * 100;
    int next = attempt < n ? delays[attempt] : 100;
    if (waited + next > k_give_up_ms) return 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(next));
    return 1;
  }
  if (attempt >= k_give_up_ms) return 0;  // ~5 s of 1 ms waits
  std::this_thread::sleep_for(std::chrono::microseconds(std::min(1000, 50 << std::min(attempt, 5))));
  return 1;
}

[[noreturn]] void fail(sqlite3* db, const std::string& what) {
  throw store_error("sqlite: " + what + ": " + (db ? sqlite3_errmsg(db) : "no connection"));
}
}  // namespace

connection::connection(const std::string& path) {
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(path.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    throw store_error("sqlite: cannot open " + path + ": " + msg);
  }
  sqlite3_busy_handler(db_, wait_for_lock, this);
  // WAL + synchronous=FULL: a commit that returned is on disk.
  exec("PRAGMA journal_mode=WAL");
  exec("PRAGMA synchronous=FULL");
  exec("PRAGMA foreign_keys=ON");
}

connection::~connection() {
  for (auto& [sql, st] : stmts_) sqlite3_finalize(st);
  sqlite3_close(db_);
}

sqlite3_stmt* connection::prepared(const char* sql) {
  auto it = stmts_.find(sql);
  if (it != stmts_.end()) return it->second;
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, nullptr) != SQLITE_OK)
    fail(db_, "prepare");
  stmts_.emplace(sql, st);
  return st;
}

void connection::exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown";
    sqlite3_free(err);
    throw store_error("sqlite: " + msg);
  }
}

void connection::run(const char* sql) { statement(*this, sql).run(); }

statement::statement(connection& c, const char* sql) : conn_(c), st_(c.prepared(sql)) {}

statement::~statement() {
  sqlite3_reset(st_);
  sqlite3_clear_bindings(st_);
}

statement& statement::bind(int i, std::string_view v) {
  sqlite3_bind_text(st_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}

statement& statement::bind(int i, std::int64_t v) {
  sqlite3_bind_int64(st_, i, v);
  return *this;
}

statement& statement::bind_null(int i) {
  sqlite3_bind_null(st_, i);
  return *this;
}

statement& statement::bind_opt(int i, std::string_view v) {
  return v.empty() ? bind_null(i) : bind(i, v);
}

bool statement::step() {
  int rc = sqlite3_step(st_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  fail(conn_.handle(), "step");
}

void statement::run() {
  while (step()) {
  }
}

std::string statement::text(int col) const {
  const auto* p = sqlite3_column_text(st_, col);
  return p ? std::string(reinterpret_cast<const char*>(p),
                         static_cast<std::size_t>(sqlite3_column_bytes(st_, col)))
           : std::string();
}

std::int64_t statement::integer(int col) const { return sqlite3_column_int64(st_, col); }

bool statement::is_null(int col) const { return sqlite3_column_type(st_, col) == SQLITE_NULL; }

int statement::changes() const { return sqlite3_changes(conn_.handle()); }

pool::pool(std::string path, int size, std::chrono::milliseconds wait)
    : impl_("sqlite", size, wait,
            [path = std::move(path)] { return std::make_unique<connection>(path); }) {}

pool::lease pool::acquire() { return impl_.acquire_or_throw<store_error>(); }

transaction::transaction(connection& c) : c_(c) { c_.run("BEGIN IMMEDIATE"); }

transaction::~transaction() {
  if (!done_) sqlite3_exec(c_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
}

void transaction::commit() {
  c_.run("COMMIT");
  done_ = true;
}

}  // namespace cartd::sqlite
