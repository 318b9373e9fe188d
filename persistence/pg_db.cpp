#include "persistence/pg_db.hpp"

#include "persistence/store.hpp"

namespace cartd::pg {

namespace {
[[noreturn]] void fail(PGconn* c, const std::string& what) {
  std::string msg = c ? PQerrorMessage(c) : "no connection";
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  throw store_error("postgresql: " + what + ": " + msg);
}
}  // namespace

std::string result::text(int row, int col) const {
  return null(row, col) ? std::string()
                        : std::string(PQgetvalue(r_, row, col),
                                      static_cast<std::size_t>(PQgetlength(r_, row, col)));
}

std::int64_t result::integer(int row, int col) const {
  return null(row, col) ? 0 : std::stoll(PQgetvalue(r_, row, col));
}

int result::affected() const {
  const char* n = PQcmdTuples(r_);
  return n && *n ? std::atoi(n) : 0;
}

connection::connection(const std::string& url) {
  conn_ = PQconnectdb(url.c_str());
  if (PQstatus(conn_) != CONNECTION_OK) {
    std::string msg = PQerrorMessage(conn_);
    PQfinish(conn_);
    conn_ = nullptr;
    while (!msg.empty() && msg.back() == '\n') msg.pop_back();
    throw store_error("postgresql: cannot connect: " + msg);
  }
  // Bounded waits: a statement or lock that takes longer fails instead of hanging a worker.
  exec("SET statement_timeout = '5s'; SET lock_timeout = '3s';"
       " SET idle_in_transaction_session_timeout = '30s'");
}

connection::~connection() { PQfinish(conn_); }

result connection::exec(const char* sql) {
  PGresult* raw = PQexec(conn_, sql);
  auto status = PQresultStatus(raw);
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    PQclear(raw);
    fail(conn_, "exec");
  }
  return result(raw);
}

result connection::run(const query& q, const std::vector<std::optional<std::string>>& params) {
  if (!prepared_.count(q.name)) {
    PGresult* prep = PQprepare(conn_, q.name, q.sql, 0, nullptr);
    bool ok = PQresultStatus(prep) == PGRES_COMMAND_OK;
    PQclear(prep);
    if (!ok) fail(conn_, std::string("prepare ") + q.name);
    prepared_.insert(q.name);
  }
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  PGresult* raw = PQexecPrepared(conn_, q.name, static_cast<int>(values.size()), values.data(),
                                 nullptr, nullptr, 0);
  auto status = PQresultStatus(raw);
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    PQclear(raw);
    fail(conn_, q.name);
  }
  return result(raw);
}

pool::pool(std::string url, int size, std::chrono::milliseconds wait)
    : impl_("postgresql", size, wait,
            [url = std::move(url)] { return std::make_unique<connection>(url); },
            [](connection& c) { return c.healthy(); }) {}

pool::lease pool::acquire() { return impl_.acquire_or_throw<store_error>(); }

transaction::transaction(connection& c) : c_(c) { c_.exec("BEGIN"); }

transaction::~transaction() {
  if (!done_) {
    try {
      c_.exec("ROLLBACK");
    } catch (...) {
    }
  }
}

void transaction::commit() {
  c_.exec("COMMIT");
  done_ = true;
}

std::string array_literal(const std::vector<std::optional<std::string>>& items) {
  std::string out = "{";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out.push_back(',');
    if (!items[i]) {
      out += "NULL";
      continue;
    }
    out.push_back('"');
    for (char ch : *items[i]) {
      if (ch == '"' || ch == '\\') out.push_back('\\');
      out.push_back(ch);
    }
    out.push_back('"');
  }
  out.push_back('}');
  return out;
}

}  // namespace cartd::pg
