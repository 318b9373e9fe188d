#pragma once
// One HTTP request in flight and the one place its response is written. Route handlers parse
// and validate on the Pistache thread, then hand an action to run(): it continues on a
// short-lived actor (session lookup, Idempotency-Key, the action itself) and never blocks the
// Pistache thread. Every path answers exactly once.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "domain/errors.hpp"
#include "domain/identity.hpp"

namespace caf {
class event_based_actor;
}

namespace cartd {

struct service;
struct config;

/// The Idempotency-Key this request claimed. `recorded` is set once the answer committed with
/// the change it reports (a cart's transaction), so that the front end does not store it again;
/// it may be set from a cart actor's thread (the reply sink), hence atomic.
struct idempotency_ticket {
  std::string scope;
  std::string key;
  std::atomic<bool> recorded{false};
};

struct http_request {
  std::string method;
  std::string path;
  std::string route;  ///< the route's pattern, the label of its metrics
  std::vector<std::string> params;
  std::string body;
  std::string content_type;
  std::string request_id;
  /// W3C trace context: the trace this request belongs to (an incoming `traceparent`'s, else a
  /// new one), this request's own span, and the caller's span when one was sent.
  std::string trace_id;
  std::string span_id;
  std::string parent_span_id;
  std::string idempotency_key;
  bool has_idempotency_key = false;
  std::string if_match;  ///< raw header; empty when absent
  std::string if_none_match;  ///< raw header; empty when absent
  std::string authorization;
  std::string session_token;
  std::string signature;  ///< Cartd-Signature (payment webhooks)
  std::vector<std::pair<std::string, std::string>> query;  ///< the query parameters cartd reads
  std::string client;
  std::string origin;  ///< the Origin header (browsers, cross-origin); empty when absent
  bool close_connection = false;
  std::chrono::steady_clock::time_point start;
};

struct http_response {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::string etag;
  std::vector<std::pair<std::string, std::string>> headers;
};

/// none: no credentials read; open: a public route (bad credentials are ignored, the answer
/// is the anonymous one); optional: credentials may be absent but are checked when sent;
/// caller: a user or session is required; admin: the admin role is required.
enum class auth_mode { none, open, optional, caller, admin };

class exchange;
using exchange_ptr = std::shared_ptr<exchange>;
using finish_fn = std::function<void(http_response)>;
using action_fn = std::function<void(caf::event_based_actor*, exchange_ptr, finish_fn)>;

class exchange : public std::enable_shared_from_this<exchange> {
 public:
  struct writer_box;
  exchange(service& svc, http_request req, std::shared_ptr<writer_box> out);
  ~exchange();

  service& svc;
  http_request req;
  principal who;
  std::string session_token_hash;
  /// A public route (auth_mode none or open): bad credentials are ignored, not refused.
  bool public_route = false;
  /// An admin route: a write through it leaves an audit line (who, what, versions).
  bool admin_route = false;
  /// Set once this request claimed its Idempotency-Key; cart commands store their answer with
  /// the change they commit.
  std::shared_ptr<idempotency_ticket> idempotency;

  /// Writes the response, records metrics and the access log. Only the first call counts.
  void respond(http_response r);
  void fail(const domain_error& e);
  /// Synchronous part of authentication (JWT check, presence of credentials); answers the
  /// error itself and returns false when the request must stop here.
  bool authenticate(auth_mode mode);
  /// Continues asynchronously: resolves the session token, applies Idempotency-Key on POST,
  /// then runs `action`.
  void run(auth_mode mode, action_fn action);
  /// Rate limit: runs `next` when the caller may go on, else answers 429 with Retry-After.
  void admit(std::function<void()> next);
  /// True when the request needs no asynchronous preparation: no Idempotency-Key to apply
  /// and no session token to look up in the store (a cached session resolves here).
  bool ready_for_fast_path();
  /// The If-Match header as a version; `bad` set when the header is malformed.
  std::optional<std::uint64_t> if_match(bool& bad) const;
  const std::string& param(std::size_t i) const { return req.params.at(i); }
  /// A query parameter; nothing when absent.
  std::optional<std::string> query(const std::string& name) const {
    for (const auto& [k, v] : req.query)
      if (k == name) return v;
    return std::nullopt;
  }

 private:
  void write(http_response r);
  std::shared_ptr<writer_box> out_;
  std::atomic<bool> done_{false};
};

http_response error_response(const domain_error& e, const http_request& req);
/// Reads a `traceparent` header (W3C Trace Context, version 00 form) into `req`: a valid one is
/// continued (its trace id kept, its span the parent), anything else starts a new trace.
void trace_request(http_request& req, const std::string& traceparent);
/// True when `origin` is one of http.cors_origins (exactly, as the browser sends it).
bool cors_allowed(const config& cfg, const std::string& origin);
/// The top-level "version" number of a JSON object body; -1 when it has none.
std::int64_t top_level_version(const std::string& body);
/// The Location header of `r`; empty when it has none.
std::string location_of(const http_response& r);

}  // namespace cartd
