#include "persistence/redis_client.hpp"

#include <hiredis/hiredis.h>
#include <sys/time.h>

namespace cartd {

namespace {

constexpr std::chrono::milliseconds k_retry_every{500};

redis_value convert(const redisReply* r) {
  redis_value v;
  switch (r->type) {
    case REDIS_REPLY_INTEGER:
      v.type = redis_value::kind::integer;
      v.integer = r->integer;
      break;
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
      v.type = redis_value::kind::text;
      v.text.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      v.type = redis_value::kind::error;
      v.text.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ARRAY:
      v.type = redis_value::kind::array;
      for (std::size_t i = 0; i < r->elements; ++i) v.items.push_back(convert(r->element[i]));
      break;
    default:
      break;
  }
  return v;
}

timeval to_timeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

}  // namespace

bool parse_redis_url(const std::string& url, std::string& host, int& port) {
  const std::string prefix = "redis://";
  if (url.rfind(prefix, 0) != 0) return false;
  auto rest = url.substr(prefix.size());
  auto slash = rest.find('/');
  if (slash != std::string::npos) rest = rest.substr(0, slash);
  auto colon = rest.rfind(':');
  host = colon == std::string::npos ? rest : rest.substr(0, colon);
  port = 6379;
  if (colon != std::string::npos) {
    auto p = rest.substr(colon + 1);
    if (p.empty() || p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos)
      return false;
    port = std::stoi(p);
  }
  return !host.empty() && port > 0 && port < 65536;
}

redis_connection::redis_connection(std::string url, std::chrono::milliseconds timeout)
    : timeout_(timeout) {
  parse_redis_url(url, host_, port_);
}

redis_connection::~redis_connection() {
  if (ctx_) redisFree(ctx_);
}

bool redis_connection::ensure_connected() {
  if (ctx_) return true;
  auto now = std::chrono::steady_clock::now();
  if (now < next_attempt_) return false;
  next_attempt_ = now + k_retry_every;
  redisContext* c = redisConnectWithTimeout(host_.c_str(), port_, to_timeval(timeout_));
  if (!c || c->err) {
    if (c) redisFree(c);
    return false;
  }
  redisSetTimeout(c, to_timeval(timeout_));
  ctx_ = c;
  return true;
}

std::optional<std::vector<redis_value>> redis_connection::pipeline(
    const std::vector<std::vector<std::string>>& cmds) {
  if (!ensure_connected()) return std::nullopt;
  for (const auto& argv : cmds) {
    std::vector<const char*> args;
    std::vector<size_t> lens;
    for (const auto& a : argv) {
      args.push_back(a.data());
      lens.push_back(a.size());
    }
    redisAppendCommandArgv(ctx_, static_cast<int>(args.size()), args.data(), lens.data());
  }
  std::vector<redis_value> out;
  out.reserve(cmds.size());
  for (std::size_t i = 0; i < cmds.size(); ++i) {
    void* raw = nullptr;
    if (redisGetReply(ctx_, &raw) != REDIS_OK || !raw) {
      // NULL reply: the context is dead (timeout, reset). Drop it; reconnect later.
      redisFree(ctx_);
      ctx_ = nullptr;
      return std::nullopt;
    }
    auto* reply = static_cast<redisReply*>(raw);
    out.push_back(convert(reply));
    freeReplyObject(reply);
  }
  return out;
}

std::optional<redis_value> redis_connection::command(const std::vector<std::string>& argv) {
  auto r = pipeline({argv});
  if (!r) return std::nullopt;
  return std::move(r->front());
}

}  // namespace cartd
