#pragma once
// A synchronous hiredis connection with bounded connect and command timeouts, for one thread at
// a time (hiredis contexts are not thread-safe). A dead connection is dropped and reopened on
// the next use, at most once per `retry_every`.
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

struct redisContext;
struct redisReply;

namespace cartd {

/// A parsed reply: an integer, a string, an array of replies, or an error.
struct redis_value {
  enum class kind { nil, integer, text, array, error } type = kind::nil;
  long long integer = 0;
  std::string text;
  std::vector<redis_value> items;
};

class redis_connection {
 public:
  /// `url`: redis://host:port
  redis_connection(std::string url, std::chrono::milliseconds timeout);
  ~redis_connection();
  redis_connection(const redis_connection&) = delete;
  redis_connection& operator=(const redis_connection&) = delete;

  /// Sends all commands in one round trip (pipelining) and returns their replies, or nothing
  /// when the connection failed (it is then closed; `up()` is false until a reconnect works).
  std::optional<std::vector<redis_value>> pipeline(const std::vector<std::vector<std::string>>& cmds);
  std::optional<redis_value> command(const std::vector<std::string>& argv);
  bool up() const { return ctx_ != nullptr; }

 private:
  bool ensure_connected();
  std::string host_;
  int port_ = 6379;
  std::chrono::milliseconds timeout_;
  redisContext* ctx_ = nullptr;
  std::chrono::steady_clock::time_point next_attempt_{};
};

/// Parses redis://host:port; false when malformed.
bool parse_redis_url(const std::string& url, std::string& host, int& port);

}  // namespace cartd
